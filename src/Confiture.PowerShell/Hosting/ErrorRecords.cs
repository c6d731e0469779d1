using System.Management.Automation;
using Confiture.Core;

namespace Confiture.PowerShell.Hosting;

/// <summary>Turns engine failures into the ErrorRecords scripts rely on: ErrorId <c>Confiture.&lt;Kind&gt;</c>.</summary>
internal static class ErrorRecords
{
    public static ErrorRecord From(ConfitureException exception, object? target)
    {
        var record = new ErrorRecord(exception, "Confiture." + exception.Kind, CategoryOf(exception.Kind), target ?? exception.Target);
        if (exception.RecommendedAction is { } action)
        {
            record.ErrorDetails = new ErrorDetails(exception.Message) { RecommendedAction = action };
        }

        return record;
    }

    public static ErrorRecord Unexpected(Exception exception, object? target) =>
        new(exception, "Confiture.Unexpected", ErrorCategory.NotSpecified, target);

    public static ErrorRecord NoSession() => new(
        new InvalidOperationException("No migration session: pass -Migration, or run Enable-ConfitureFdw first in this session."),
        "Confiture.NoSession", ErrorCategory.InvalidOperation, null)
    {
        ErrorDetails = new ErrorDetails("No migration session: pass -Migration, or run Enable-ConfitureFdw first in this session.")
        {
            RecommendedAction = "Run Enable-ConfitureFdw -Source $src -Target $tgt, or pipe its result in.",
        },
    };

    private static ErrorCategory CategoryOf(ConfitureErrorKind kind) => kind switch
    {
        ConfitureErrorKind.InvalidArgument or ConfitureErrorKind.InvalidConnectionString
            or ConfitureErrorKind.DuplicateTargetColumn or ConfitureErrorKind.EmptyColumnMapping => ErrorCategory.InvalidArgument,
        ConfitureErrorKind.ConnectionFailed or ConfitureErrorKind.FdwConnectionFailed => ErrorCategory.ConnectionError,
        ConfitureErrorKind.AuthenticationFailed => ErrorCategory.AuthenticationError,
        ConfitureErrorKind.DatabaseNotFound or ConfitureErrorKind.SchemaNotFound
            or ConfitureErrorKind.TableNotFound or ConfitureErrorKind.ColumnNotFound => ErrorCategory.ObjectNotFound,
        ConfitureErrorKind.FdwNotAvailable or ConfitureErrorKind.FdwExtensionMissing => ErrorCategory.NotInstalled,
        ConfitureErrorKind.FdwUsageDenied or ConfitureErrorKind.SchemaCreateDenied or ConfitureErrorKind.PermissionDenied => ErrorCategory.PermissionDenied,
        ConfitureErrorKind.ServerNotOwned or ConfitureErrorKind.ForeignSchemaNotEmpty or ConfitureErrorKind.TargetNotEmpty => ErrorCategory.ResourceExists,
        ConfitureErrorKind.NotNullColumnUnmapped => ErrorCategory.InvalidData,
        ConfitureErrorKind.MigrationFailed => ErrorCategory.WriteError,
        ConfitureErrorKind.Cancelled => ErrorCategory.OperationStopped,
        _ => ErrorCategory.InvalidOperation,
    };
}
