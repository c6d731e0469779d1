using System.Globalization;
using Confiture.Core.Connections;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Migration;

/// <summary>
/// One run per target table at a time. A load takes, in its own transaction and before it looks at
/// the table, an advisory lock keyed by the table's OID (what another Confiture run, sync or
/// truncate of the table waits for) and the table lock its writes need, and keeps both to its
/// commit: two runs can no longer both find a table empty and both fill it. While it waits, a second
/// connection asks the server who holds the lock, and the observer hears it every few seconds.
/// See https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS.
/// </summary>
internal static class TableLock
{
    /// <summary>The advisory lock's first key, so Confiture's locks do not meet other applications' ones keyed by OIDs.</summary>
    public const int Namespace = 0x436F6E66; // "Conf"

    private static readonly TimeSpan FirstReport = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ReportEvery = TimeSpan.FromSeconds(10);

    /// <summary>The advisory lock's key for a table, as the SQL that takes or tests it expects it.</summary>
    public static int Key(uint tableOid) => unchecked((int)tableOid);

    /// <summary>
    /// Takes the run lock (and, when <paramref name="tableMode"/> is given, the table lock) inside the
    /// caller's transaction, reporting while it waits and giving up after <paramref name="timeout"/>.
    /// </summary>
    /// <param name="connection">The target connection, inside the transaction that will hold the locks.</param>
    /// <param name="target">Where to open the connection that watches the wait.</param>
    /// <param name="tableOid">The target table.</param>
    /// <param name="qualifiedTable">The target table, quoted.</param>
    /// <param name="runLock">Whether to take the advisory run lock (false when another connection of the same run holds it).</param>
    /// <param name="tableMode">A LOCK TABLE mode such as <c>ACCESS EXCLUSIVE</c>, or null for none.</param>
    /// <param name="timeout">How long to wait at most; null for the server's lock_timeout.</param>
    /// <param name="observer">Hears who holds the lock while the wait lasts.</param>
    /// <param name="cancellationToken">Stops the wait.</param>
    public static async Task AcquireAsync(
        NpgsqlConnection connection, DatabaseEndpoint target, uint tableOid, string qualifiedTable, bool runLock, string? tableMode,
        TimeSpan? timeout, IOperationObserver observer, CancellationToken cancellationToken)
    {
        var previous = await SqlExecutor.ScalarAsync<string>(connection, "SELECT current_setting('lock_timeout')", cancellationToken).ConfigureAwait(false);
        if (timeout is { } limit)
        {
            await SqlExecutor.ScalarAsync<string>(connection, "SELECT set_config('lock_timeout', $1, true)", cancellationToken,
                Math.Max(1, (long)limit.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        }

        using var stopWatching = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var holders = new LockHolders();
        var watching = WatchAsync(target, connection.ProcessID, qualifiedTable, timeout, holders, observer, stopWatching.Token);
        try
        {
            if (runLock)
            {
                await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain("SELECT pg_advisory_xact_lock($1, $2)"), NullObserver.Instance, cancellationToken,
                    Namespace, Key(tableOid)).ConfigureAwait(false);
            }

            if (tableMode is not null)
            {
                await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain($"LOCK TABLE {qualifiedTable} IN {tableMode} MODE"), observer, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.LockNotAvailable)
        {
            throw new ConfitureException(ConfitureErrorKind.LockTimeout,
                $"Gave up waiting for a lock on {qualifiedTable} on the target server {target} after {Describe(timeout, previous)}" +
                $"{(holders.Last is { } who ? ": " + who : string.Empty)}. Nothing was written.",
                qualifiedTable, "Run it again once the other session has finished, or raise -LockTimeout.", ex);
        }
        finally
        {
            await stopWatching.CancelAsync().ConfigureAwait(false);
            await TableMigrator.QuietlyAsync(() => watching).ConfigureAwait(false);
        }

        if (timeout is not null)
        {
            // Later statements (index builds on other tables, say) keep the session's own setting.
            await SqlExecutor.ScalarAsync<string>(connection, "SELECT set_config('lock_timeout', $1, true)", cancellationToken, previous).ConfigureAwait(false);
        }
    }

    private static string Describe(TimeSpan? timeout, string? serverSetting) => timeout is { } t
        ? $"-LockTimeout {t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s"
        : $"the server's lock_timeout ({serverSetting})";

    private static async Task WatchAsync(
        DatabaseEndpoint target, int waitingPid, string qualifiedTable, TimeSpan? timeout, LockHolders holders, IOperationObserver observer,
        CancellationToken cancellationToken)
    {
        try
        {
            await WatchOnceOpenAsync(target, waitingPid, qualifiedTable, timeout, holders, observer, cancellationToken).ConfigureAwait(false);
        }
        catch (ConfitureException)
        {
            // Watching is a courtesy: a refused second connection must not fail the load itself.
        }
    }

    private static async Task WatchOnceOpenAsync(
        DatabaseEndpoint target, int waitingPid, string qualifiedTable, TimeSpan? timeout, LockHolders holders, IOperationObserver observer,
        CancellationToken cancellationToken)
    {
        await Task.Delay(FirstReport, cancellationToken).ConfigureAwait(false);
        await using var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        var started = DateTime.UtcNow - FirstReport;
        while (!cancellationToken.IsCancellationRequested)
        {
            var blockers = await SqlExecutor.ListAsync(connection,
                """
                SELECT a.pid, coalesce(nullif(a.application_name, ''), '(no application name)'), coalesce(a.usename::text, '?'),
                       coalesce(host(a.client_addr), 'local'), a.state, to_char(a.xact_start, 'YYYY-MM-DD HH24:MI:SS TZ')
                FROM pg_stat_activity a WHERE a.pid = ANY (pg_blocking_pids($1)) ORDER BY a.pid
                """,
                r => $"pid {r.GetInt32(0)} (application '{r.GetString(1)}', user {r.GetString(2)}, from {r.GetString(3)}, " +
                     $"{(r.IsDBNull(4) ? "state unknown" : r.GetString(4))}{(r.IsDBNull(5) ? string.Empty : ", in a transaction since " + r.GetString(5))})",
                cancellationToken, waitingPid).ConfigureAwait(false);
            if (blockers.Count > 0)
            {
                holders.Last = string.Join("; ", blockers);
                var waited = (DateTime.UtcNow - started).TotalSeconds.ToString("0", CultureInfo.InvariantCulture);
                observer.Warning($"Waiting {waited} s for a lock on {qualifiedTable} on the target server {target}, held by {holders.Last}. " +
                                 (timeout is { } t
                                     ? $"The wait ends after -LockTimeout {t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s."
                                     : "It lasts as long as that session holds it; -LockTimeout bounds it."));
            }

            await Task.Delay(ReportEvery, cancellationToken).ConfigureAwait(false);
        }
    }

    private sealed class LockHolders
    {
        public volatile string? Last;
    }
}
