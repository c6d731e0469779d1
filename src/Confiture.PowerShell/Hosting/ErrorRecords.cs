using System.Management.Automation;
using Confiture.Core;

namespace Confiture.PowerShell.Hosting;

/// <summary>
/// Turns failures into the ErrorRecords scripts rely on: ErrorId <c>Confiture.&lt;Kind&gt;</c>, a
/// category that fits, the table (or other object) concerned as target, the engine's exception
/// (whose inner exception is the server's or driver's original) and always a recommended action.
/// </summary>
internal static class ErrorRecords
{
    public const string Prefix = "Confiture.";

    public static ErrorRecord From(ConfitureException exception, object? target) => new(
        exception, Prefix + exception.Kind, CategoryOf(exception.Kind), target ?? exception.Target)
    {
        ErrorDetails = new ErrorDetails(exception.Message) { RecommendedAction = exception.RecommendedAction ?? DefaultAction(exception.Kind) },
    };

    public static ErrorRecord Unexpected(Exception exception, object? target) => new(exception, Prefix + "Unexpected", ErrorCategory.NotSpecified, target)
    {
        ErrorDetails = new ErrorDetails(exception.Message)
        {
            RecommendedAction = "Run the command again with -Verbose to see the statements it ran; the exception's InnerException holds the original cause.",
        },
    };

    /// <summary>A parameter combination the cmdlet refuses before it touches a database.</summary>
    public static ErrorRecord InvalidArgument(string message, object? target, string recommendedAction) =>
        From(new ConfitureException(ConfitureErrorKind.InvalidArgument, message, target?.ToString(), recommendedAction), target);

    public static ErrorRecord NoSession() => new(
        new InvalidOperationException("No migration session: pass -Migration, or run Enable-ConfitureFdw first in this session."),
        Prefix + "NoSession", ErrorCategory.InvalidOperation, null)
    {
        ErrorDetails = new ErrorDetails("No migration session: pass -Migration, or run Enable-ConfitureFdw first in this session.")
        {
            RecommendedAction = "Run Enable-ConfitureFdw -Source $src -Target $tgt, or pipe its result in.",
        },
    };

    private static ErrorCategory CategoryOf(ConfitureErrorKind kind) => kind switch
    {
        ConfitureErrorKind.InvalidArgument or ConfitureErrorKind.InvalidConnectionString
            or ConfitureErrorKind.DuplicateTargetColumn or ConfitureErrorKind.EmptyColumnMapping or ConfitureErrorKind.NotATable => ErrorCategory.InvalidArgument,
        ConfitureErrorKind.ConnectionFailed or ConfitureErrorKind.FdwConnectionFailed => ErrorCategory.ConnectionError,
        ConfitureErrorKind.AuthenticationFailed => ErrorCategory.AuthenticationError,
        ConfitureErrorKind.DatabaseNotFound or ConfitureErrorKind.SchemaNotFound
            or ConfitureErrorKind.TableNotFound or ConfitureErrorKind.ColumnNotFound => ErrorCategory.ObjectNotFound,
        ConfitureErrorKind.FdwNotAvailable or ConfitureErrorKind.FdwExtensionMissing => ErrorCategory.NotInstalled,
        ConfitureErrorKind.FdwUsageDenied or ConfitureErrorKind.SchemaCreateDenied or ConfitureErrorKind.PermissionDenied => ErrorCategory.PermissionDenied,
        ConfitureErrorKind.ServerNotOwned or ConfitureErrorKind.ForeignSchemaNotEmpty or ConfitureErrorKind.TargetNotEmpty => ErrorCategory.ResourceExists,
        ConfitureErrorKind.NotNullColumnUnmapped or ConfitureErrorKind.ColumnNotMapped or ConfitureErrorKind.ValueDoesNotFit => ErrorCategory.InvalidData,
        ConfitureErrorKind.MigrationFailed or ConfitureErrorKind.RestoreFailed => ErrorCategory.WriteError,
        ConfitureErrorKind.Cancelled or ConfitureErrorKind.StatementCancelled => ErrorCategory.OperationStopped,
        ConfitureErrorKind.LockTimeout or ConfitureErrorKind.ServerInUse => ErrorCategory.ResourceBusy,
        ConfitureErrorKind.SessionTimeout => ErrorCategory.OperationTimeout,
        ConfitureErrorKind.ServerError => ErrorCategory.NotSpecified,
        ConfitureErrorKind.SessionNotFound => ErrorCategory.ObjectNotFound,
        ConfitureErrorKind.SourceMismatch => ErrorCategory.InvalidArgument,
        ConfitureErrorKind.WalLevelNotLogical or ConfitureErrorKind.NoChangeStream => ErrorCategory.NotEnabled,
        ConfitureErrorKind.ReplicationNotAllowed or ConfitureErrorKind.PublicationNotAllowed => ErrorCategory.PermissionDenied,
        ConfitureErrorKind.ReplicationSlotsExhausted => ErrorCategory.LimitsExceeded,
        ConfitureErrorKind.ReplicaIdentityMissing or ConfitureErrorKind.ChangeStreamSchemaChanged => ErrorCategory.InvalidData,
        ConfitureErrorKind.ChangeStreamSnapshotGone => ErrorCategory.InvalidOperation,
        ConfitureErrorKind.ChangeStreamFailed => ErrorCategory.WriteError,
        _ => ErrorCategory.InvalidOperation,
    };

    /// <summary>What to do next when the engine did not say: every ErrorRecord carries a recommended action.</summary>
    private static string DefaultAction(ConfitureErrorKind kind) => kind switch
    {
        ConfitureErrorKind.InvalidArgument => "Correct the parameter value named in the message.",
        ConfitureErrorKind.InvalidConnectionString => "Pass a keyword connection string (Host=...;Username=...) or a postgresql:// URI.",
        ConfitureErrorKind.ConnectionFailed => "Check the host, port and network path to the server, and that PostgreSQL is running.",
        ConfitureErrorKind.AuthenticationFailed => "Check the user name and password (and pg_hba.conf on the server).",
        ConfitureErrorKind.DatabaseNotFound => "Check the database name, or create the database first.",
        ConfitureErrorKind.FdwNotAvailable => "Install the PostgreSQL contrib package (postgres_fdw) on the target server.",
        ConfitureErrorKind.FdwExtensionMissing => "Ask a superuser to run CREATE EXTENSION postgres_fdw in the target database.",
        ConfitureErrorKind.FdwUsageDenied => "Ask a superuser to GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw to the target user.",
        ConfitureErrorKind.SchemaCreateDenied => "Grant CREATE on the target database to the target user, or create the foreign schema for it.",
        ConfitureErrorKind.ServerNotOwned => "Pass another -ServerName; Confiture never changes a server it did not create.",
        ConfitureErrorKind.ForeignSchemaNotEmpty => "Pass another -ForeignSchema: a new schema, or one holding only this server's foreign tables.",
        ConfitureErrorKind.FdwConnectionFailed => "Check that the target server can reach the source (-SourceHostForTarget, -SourcePortForTarget) and the source's pg_hba.conf.",
        ConfitureErrorKind.FdwSetupFailed => "Fix the cause named in the message and run Enable-ConfitureFdw again; nothing was changed.",
        ConfitureErrorKind.SchemaNotFound => "Check the schema name (it is case-sensitive).",
        ConfitureErrorKind.TableNotFound => "Check the table name (it is case-sensitive) and the schema.",
        ConfitureErrorKind.ColumnNotFound => "Check the column names of -ColumnMapping against both tables.",
        ConfitureErrorKind.DuplicateTargetColumn => "Map each target column from one source column only.",
        ConfitureErrorKind.NotNullColumnUnmapped => "Map a source column to each NOT NULL target column, or give it a default on the target.",
        ConfitureErrorKind.EmptyColumnMapping => "Pass -ColumnMapping @{ source_column = 'target_column' }.",
        ConfitureErrorKind.TargetNotEmpty => "Use -Truncate to replace the target's rows, or -Append to add to them.",
        ConfitureErrorKind.PermissionDenied => "Grant the privilege named in the message to the user, then run the command again.",
        ConfitureErrorKind.MigrationFailed => "Fix the cause named in the message and run the migration again; the target was rolled back.",
        ConfitureErrorKind.Cancelled => "Run the command again when ready; the target was rolled back.",
        ConfitureErrorKind.ForeignTableOutOfDate => "Run Enable-ConfitureFdw again to re-import the foreign table, or use -Strategy Copy.",
        ConfitureErrorKind.ValueDoesNotFit => "Widen the target column or change the value on the source; nothing was written.",
        ConfitureErrorKind.ColumnNotMapped => "Name the column in -Map (Rename, Exclude or Default), or pass -ColumnMapping.",
        ConfitureErrorKind.RunNotPossible => "Change the run as the message says (add the referencing table, or leave the option out).",
        ConfitureErrorKind.ResumeNotPossible => "Run the tables again without -Resume (with -Truncate to replace what the earlier run committed), or resume with the map it used.",
        ConfitureErrorKind.LockTimeout => "Wait for the session named in the message to finish, or raise -LockTimeout.",
        ConfitureErrorKind.StatementCancelled => "Raise the server's statement_timeout for the migration role, or find who cancelled it.",
        ConfitureErrorKind.SessionTimeout => "Raise the timeout setting named in the message for the migration role, then run again.",
        ConfitureErrorKind.RestoreFailed => "Restore the definitions listed in confiture.deferred_definition by hand, then run again.",
        ConfitureErrorKind.ConfirmationRequired => "Add -Force (or -Confirm:$false) to go on without a question; -WhatIf shows what it would do.",
        ConfitureErrorKind.SessionNotFound => "Run Get-ConfitureMigration -Target without -Name to list the sessions recorded.",
        ConfitureErrorKind.SourceMismatch => "Pass the source the session was set up with (Get-ConfitureMigration -Target lists it).",
        _ => "See the message and the exception's InnerException for the cause.",
    };
}
