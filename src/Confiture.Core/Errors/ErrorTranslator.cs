using Confiture.Core.Connections;
using Npgsql;

namespace Confiture.Core.Errors;

/// <summary>
/// The one place a server or driver failure becomes a <see cref="ConfitureException"/>, so one
/// SqlState gives one ErrorId on every path (migrate, verify, analyze, parallel parts), and every
/// message names the server that raised it and what Confiture was doing.
/// See https://www.postgresql.org/docs/current/errcodes-appendix.html.
/// </summary>
internal sealed class ErrorTranslator(DatabaseEndpoint? source, DatabaseEndpoint? target)
{
    /// <summary>Translates a driver exception; anything else (already a ConfitureException, a bug) is returned as null.</summary>
    /// <param name="exception">What was thrown.</param>
    /// <param name="doing">What Confiture was doing, as a phrase: <c>migrating "users" into "users"</c>.</param>
    /// <param name="table">The object the error record targets.</param>
    /// <param name="fallback">The kind for a server error with no more specific kind.</param>
    /// <param name="aftermath">What state the failure left, as a sentence (empty when nothing was written).</param>
    /// <param name="likelySide">The server to name when the exception does not say which one raised it.</param>
    public ConfitureException? Translate(
        Exception exception, string doing, string? table, ConfitureErrorKind fallback = ConfitureErrorKind.ServerError,
        string aftermath = "", DatabaseEndpoint? likelySide = null)
    {
        var server = ServerOf(exception, likelySide);
        var after = string.IsNullOrEmpty(aftermath) ? string.Empty : " " + aftermath;
        switch (exception)
        {
            case PostgresException ex:
                var (kind, action) = Classify(ex, fallback);
                return new ConfitureException(kind,
                    $"{Capitalized(doing)} failed on {server}: {ex.MessageText} (SQLSTATE {ex.SqlState}{Setting(ex.SqlState)}).{after}",
                    table, action, ex);
            case NpgsqlException ex when ex.InnerException is TimeoutException:
                return new ConfitureException(ConfitureErrorKind.ConnectionFailed,
                    $"{Capitalized(doing)} failed: {server} did not answer in time (the connection string's Timeout).{after}",
                    table, "Check that the server is up and reachable, or raise Timeout in the connection string.", ex);
            case NpgsqlException ex:
                return new ConfitureException(ConfitureErrorKind.ConnectionFailed,
                    $"{Capitalized(doing)} failed: lost the connection to {server} ({ex.Message}).{after}",
                    table, "Check that both servers are up and reachable, then run the command again.", ex);
            default:
                return null;
        }
    }

    private const string IdleInTransactionSessionTimeout = "25P03";

    private static (ConfitureErrorKind Kind, string Action) Classify(PostgresException ex, ConfitureErrorKind fallback) => ex.SqlState switch
    {
        PostgresErrorCodes.InsufficientPrivilege => (ConfitureErrorKind.PermissionDenied,
            "Grant the privilege named in the message to the user. For a row-level security policy: Confiture reads and writes with " +
            "row_security = off so that no row is hidden, which needs a role with BYPASSRLS (or a superuser), or the table's owner without FORCE ROW LEVEL SECURITY."),
        PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.FdwTableNotFound => (ConfitureErrorKind.TableNotFound,
            "Check the table name (it is case-sensitive) and the schema; it may have been dropped meanwhile."),
        PostgresErrorCodes.FdwUnableToEstablishConnection or PostgresErrorCodes.SqlClientUnableToEstablishSqlConnection => (ConfitureErrorKind.FdwConnectionFailed,
            "Check that the target server can reach the source (-SourceHostForTarget, -SourcePortForTarget) and the source's pg_hba.conf."),
        // Raised by a server as an ERROR (not a broken socket): postgres_fdw on the target lost the source.
        { } state when state.StartsWith("08", StringComparison.Ordinal) => (ConfitureErrorKind.FdwConnectionFailed,
            "Check that the source server is up and that the target server can reach it, then run the command again."),
        PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.CannotConnectNow => (ConfitureErrorKind.ConnectionFailed,
            "The server ended the session (shutdown, restart, or pg_terminate_backend by an administrator); run the command again when it is back."),
        PostgresErrorCodes.LockNotAvailable => (ConfitureErrorKind.LockTimeout,
            "Another session holds a lock on the table: wait for it to finish, or raise -LockTimeout (or the role's lock_timeout)."),
        PostgresErrorCodes.QueryCanceled => (ConfitureErrorKind.StatementCancelled,
            "If statement_timeout ended it, raise it for the Confiture role on that server (ALTER ROLE ... SET statement_timeout = 0), or split the work; otherwise ask who cancelled it."),
        IdleInTransactionSessionTimeout or "57P05" => (ConfitureErrorKind.SessionTimeout,
            "Raise idle_in_transaction_session_timeout / idle_session_timeout for the Confiture role on that server (ALTER ROLE ... SET ... = 0)."),
        PostgresErrorCodes.DiskFull or PostgresErrorCodes.OutOfMemory or PostgresErrorCodes.TooManyConnections => (fallback,
            "Free the resource named in the message on that server, then run the command again."),
        _ => (fallback, "Fix the cause named in the message, then run the command again."),
    };

    /// <summary>Which setting ends a statement with this SqlState, so the message says it.</summary>
    private static string Setting(string sqlState) => sqlState switch
    {
        PostgresErrorCodes.QueryCanceled => ": statement_timeout, or a cancel request",
        PostgresErrorCodes.LockNotAvailable => ": lock_timeout",
        IdleInTransactionSessionTimeout => ": idle_in_transaction_session_timeout",
        "57P05" => ": idle_session_timeout",
        PostgresErrorCodes.AdminShutdown => ": the session was terminated",
        _ => string.Empty,
    };

    private string ServerOf(Exception exception, DatabaseEndpoint? likelySide)
    {
        var tagged = ServerTag.Of(exception);
        if (tagged is not null)
        {
            if (target is not null && tagged == target.ToString())
            {
                return $"the target server {target}";
            }

            if (source is not null && tagged == source.ToString())
            {
                return $"the source server {source}";
            }

            return $"the server {tagged}";
        }

        if (likelySide is not null)
        {
            return ReferenceEquals(likelySide, target) ? $"the target server {likelySide}" : $"the source server {likelySide}";
        }

        return (source, target) switch
        {
            (not null, not null) => $"the source server {source} or the target server {target}",
            (not null, null) => $"the source server {source}",
            (null, not null) => $"the target server {target}",
            _ => "the server",
        };
    }

    private static string Capitalized(string phrase) =>
        phrase.Length == 0 ? phrase : char.ToUpperInvariant(phrase[0]) + phrase[1..];
}
