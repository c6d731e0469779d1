using System.Diagnostics;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Migration;

/// <summary>
/// Planner statistics follow the data: a loaded table is analyzed in its load's own transaction,
/// after its indexes exist (expression indexes get statistics too), so the statistics commit with
/// the rows and the first query after the cutover is planned on them instead of waiting for
/// autovacuum. A sync analyzes when it changed a substantial share of the rows.
/// See https://www.postgresql.org/docs/current/sql-analyze.html.
/// </summary>
internal static class TableStatistics
{
    /// <summary>A sync analyzes once it changed more than this share of the rows the table's statistics describe.</summary>
    public const double SyncShare = 0.10;

    /// <summary>
    /// The statement. On a partitioned table PostgreSQL samples the whole tree for the parent's
    /// statistics and analyzes every partition too, so one statement covers them all.
    /// </summary>
    public static SqlStatement Analyze(string qualifiedTable) => SqlStatement.Plain($"ANALYZE {qualifiedTable}");

    /// <summary>
    /// What follows a load's rows in its last transaction: ANALYZE (unless the request skips it), a
    /// check that a FREEZE load left every page all-visible, and the counters flushed so a
    /// verification that follows sees this load. Returns how long ANALYZE took; null when skipped.
    /// </summary>
    public static async Task<TimeSpan?> AfterLoadAsync(NpgsqlConnection connection, MigrationPlan plan, bool froze, IOperationObserver observer, CancellationToken cancellationToken)
    {
        await FlushCountersAsync(connection, cancellationToken).ConfigureAwait(false);
        if (plan.Request.SkipAnalyze)
        {
            return null;
        }

        if (await AnalyzeAsync(connection, plan, observer, cancellationToken).ConfigureAwait(false) is not { } elapsed)
        {
            return null;
        }

        if (froze)
        {
            await CheckAllVisibleAsync(connection, plan, observer, cancellationToken).ConfigureAwait(false);
        }

        return elapsed;
    }

    /// <summary>
    /// After a sync, in its transaction: ANALYZE when it changed more than <see cref="SyncShare"/>
    /// of the rows the statistics were made from (or the table has none yet). Returns how long
    /// ANALYZE took; null when it did not run.
    /// </summary>
    public static async Task<TimeSpan?> AfterSyncAsync(NpgsqlConnection connection, MigrationPlan plan, long rowsChanged, IOperationObserver observer, CancellationToken cancellationToken)
    {
        await FlushCountersAsync(connection, cancellationToken).ConfigureAwait(false);
        if (plan.Request.SkipAnalyze || rowsChanged == 0)
        {
            return null;
        }

        // reltuples is what the last ANALYZE (or VACUUM) saw, per leaf: -1 until the first one.
        var described = await SqlExecutor.ListAsync(connection,
            $"SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::float8, coalesce(bool_or(c.reltuples < 0), true) FROM {PartitionTree.Leaves("$1::oid")} l JOIN pg_class c ON c.oid = l.relid",
            r => (Rows: r.GetDouble(0), Never: r.GetBoolean(1)), cancellationToken, plan.TargetOid).ConfigureAwait(false);
        var (rows, never) = described[0];
        if (!never && rowsChanged <= rows * SyncShare)
        {
            return null;
        }

        return await AnalyzeAsync(connection, plan, observer, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// ANALYZE, when this role may: PostgreSQL skips a table the role may not analyze with a mere
    /// warning to the client, so that is checked first and said, never taken for done. Null when skipped.
    /// </summary>
    private static async Task<TimeSpan?> AnalyzeAsync(NpgsqlConnection connection, MigrationPlan plan, IOperationObserver observer, CancellationToken cancellationToken)
    {
        // The table's owner (or a member of it), the database's owner, a superuser, and from
        // PostgreSQL 17 on a role with MAINTAIN on it (pg_maintain included).
        var maintain = connection.PostgreSqlVersion.Major >= 17 ? " OR has_table_privilege(c.oid, 'MAINTAIN')" : string.Empty;
        var allowed = await SqlExecutor.ScalarAsync<bool>(connection,
            $"""
            SELECT pg_has_role(c.relowner, 'USAGE')
                   OR (SELECT pg_has_role(d.datdba, 'USAGE') FROM pg_database d WHERE d.datname = current_database())
                   OR (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user){maintain}
            FROM pg_class c WHERE c.oid = $1
            """,
            cancellationToken, plan.TargetOid).ConfigureAwait(false);
        if (!allowed)
        {
            observer.Warning($"{plan.QualifiedTarget} was not analyzed: role \"{connection.UserName}\" is not its owner (nor the database's), so PostgreSQL would skip it. " +
                $"Its planner statistics wait for autovacuum: run ANALYZE {plan.QualifiedTarget} as its owner before the cutover, or migrate as the owner.");
            return null;
        }

        var started = Stopwatch.GetTimestamp();
        await SqlExecutor.ExecuteAsync(connection, Analyze(plan.QualifiedTarget), observer, cancellationToken).ConfigureAwait(false);
        return Stopwatch.GetElapsedTime(started);
    }

    /// <summary>
    /// COPY FREEZE sets each page all-visible as it writes it (PostgreSQL 14 and later), so index-only
    /// scans need no heap visit from the first query; ANALYZE has just counted those pages into
    /// relallvisible. Fewer than relpages means the first VACUUM still has that work to do: said, not hidden.
    /// </summary>
    private static async Task CheckAllVisibleAsync(NpgsqlConnection connection, MigrationPlan plan, IOperationObserver observer, CancellationToken cancellationToken)
    {
        var pages = await SqlExecutor.ListAsync(connection, "SELECT relpages, relallvisible FROM pg_class WHERE oid = $1",
            r => (Pages: r.GetInt32(0), AllVisible: r.GetInt32(1)), cancellationToken, plan.TargetOid).ConfigureAwait(false);
        if (pages.Count == 1 && pages[0].AllVisible < pages[0].Pages)
        {
            observer.Warning($"{plan.QualifiedTarget} was loaded with COPY FREEZE, yet only {pages[0].AllVisible} of its {pages[0].Pages} pages are marked all-visible " +
                "(a server before PostgreSQL 14, or a trigger that made COPY insert row by row): index-only scans visit the table until VACUUM has run on it. " +
                $"Run VACUUM {plan.QualifiedTarget} before the cutover, or let autovacuum do it.");
        }
    }

    /// <summary>
    /// PostgreSQL 15 and later publish a session's row counters when it goes idle, at most once a
    /// second and otherwise up to ten seconds later: asked here, they are published as this
    /// transaction ends, so a verification that follows the call sees every row it wrote.
    /// </summary>
    public static async Task FlushCountersAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        if (connection.PostgreSqlVersion.Major < 15)
        {
            return;
        }

        var allowed = await SqlExecutor.ScalarAsync<bool>(connection, "SELECT has_function_privilege('pg_stat_force_next_flush()', 'EXECUTE')", cancellationToken).ConfigureAwait(false);
        if (allowed)
        {
            await SqlExecutor.ScalarAsync<object>(connection, "SELECT pg_stat_force_next_flush()", cancellationToken).ConfigureAwait(false);
        }
    }
}
