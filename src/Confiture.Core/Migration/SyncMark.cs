using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Migration;

/// <summary>
/// Where the last successful sync of a target table read the source, kept on the target in
/// <c>confiture.sync_mark</c> and written in the sync's own transaction: the oldest transaction id
/// (<c>txid_snapshot_xmin</c>) its source snapshot could not see. Every row version the source
/// wrote after that snapshot, whatever its timestamps and whichever role's session wrote it, has a
/// transaction id at or past that mark, so the next sync finds it by <c>xmin</c>.
/// </summary>
internal static class SyncMark
{
    private const string Table = "confiture.sync_mark";

    /// <summary>Serializes creating the mark table between concurrent syncs on one target.</summary>

    /// <summary>
    /// How far behind the source's transaction counter a mark may fall and still be compared by
    /// age(): well inside the 2^31 of xid arithmetic, and far more than any cutover writes.
    /// </summary>
    public const long MaxDistance = 1L << 30;

    /// <summary>The snapshot's horizon, with its epoch (64 bits, so it never wraps).</summary>
    public static async Task<long> SnapshotHorizonAsync(NpgsqlConnection source, CancellationToken cancellationToken) =>
        await SqlExecutor.ScalarAsync<long>(source, "SELECT txid_snapshot_xmin(txid_current_snapshot())", cancellationToken).ConfigureAwait(false);

    /// <summary>The mark of the last sync of this table from this source table with this mapping, or null (also when it may not be read).</summary>
    public static async Task<long?> ReadAsync(NpgsqlConnection target, MigrationPlan plan, CancellationToken cancellationToken)
    {
        if (await Record.TargetRecord.AccessAsync(target, "sync_mark", "SELECT", cancellationToken).ConfigureAwait(false) != true)
        {
            return null;
        }

        try
        {
            var marks = await SqlExecutor.ListAsync(target,
                $"SELECT source_xmin FROM {Table} WHERE target_schema = $1 AND target_table = $2 AND source_schema = $3 AND source_table = $4 AND columns = $5",
                r => r.GetInt64(0), cancellationToken,
                plan.Request.TargetSchema, plan.TargetTable, plan.SourceSchema, plan.Request.SourceTable, Columns(plan)).ConfigureAwait(false);
            return marks.Count == 0 ? null : marks[0];
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            // Another role's record: as good as none, the caller compares the whole table (its
            // transaction is aborted and rolled back for that).
            return null;
        }
    }

    /// <summary>
    /// Records the mark, inside the caller's (the sync's) transaction. A role that may not create or
    /// write the record still syncs: a savepoint keeps the failure from aborting the sync, and the
    /// next -ChangedSince sync, finding no mark, compares the whole table.
    /// </summary>
    public static async Task WriteAsync(NpgsqlConnection target, MigrationPlan plan, long horizon, IOperationObserver observer, CancellationToken cancellationToken)
    {
        await SqlExecutor.ExecuteAsync(target, SqlStatement.Plain("SAVEPOINT confiture_sync_mark"), observer, cancellationToken).ConfigureAwait(false);
        try
        {
            await UpsertAsync(target, plan, horizon, observer, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            await SqlExecutor.ExecuteAsync(target, SqlStatement.Plain("ROLLBACK TO SAVEPOINT confiture_sync_mark"), observer, cancellationToken).ConfigureAwait(false);
            observer.Warning($"The sync of {plan.QualifiedTarget} could not record where it read the source ({ex.MessageText}): the next -ChangedSince sync of it will compare the whole table. " +
                             $"Grant {target.UserName} CREATE on the target database, or on schema confiture and its table sync_mark, to let it.");
            return;
        }

        await SqlExecutor.ExecuteAsync(target, SqlStatement.Plain("RELEASE SAVEPOINT confiture_sync_mark"), observer, cancellationToken).ConfigureAwait(false);
    }

    private static async Task UpsertAsync(NpgsqlConnection target, MigrationPlan plan, long horizon, IOperationObserver observer, CancellationToken cancellationToken)
    {
        await Record.TargetRecord.EnsureAsync(target, observer, cancellationToken).ConfigureAwait(false);

        await SqlExecutor.ExecuteAsync(target, SqlStatement.Plain(
            $"INSERT INTO {Table} (target_schema, target_table, source_schema, source_table, columns, source_xmin) VALUES ($1, $2, $3, $4, $5, $6) " +
            "ON CONFLICT (target_schema, target_table) DO UPDATE SET source_schema = EXCLUDED.source_schema, source_table = EXCLUDED.source_table, " +
            "columns = EXCLUDED.columns, source_xmin = EXCLUDED.source_xmin, synced_at = now()"),
            observer, cancellationToken, plan.Request.TargetSchema, plan.TargetTable, plan.SourceSchema, plan.Request.SourceTable, Columns(plan), horizon).ConfigureAwait(false);
    }


    /// <summary>
    /// The condition, on the source, for the rows written since the mark: age() compares transaction
    /// ids the way the server does, modulo 2^32, which is why a mark must not be too far behind.
    /// </summary>
    public static string WrittenSince(long mark) =>
        $"age(xmin) <= age({SqlText.Literal((mark % (1L << 32)).ToString(System.Globalization.CultureInfo.InvariantCulture))}::xid)";

    /// <summary>A mapping other than the marked sync's may need rows that did not change: they do not match the mark.</summary>
    private static string Columns(MigrationPlan plan) =>
        string.Join(",", plan.Columns.Select(c => SqlText.Identifier(c.Source.Name) + "=" + SqlText.Identifier(c.Target.Name)));
}
