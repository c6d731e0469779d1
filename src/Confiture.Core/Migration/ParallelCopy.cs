using System.Diagnostics;
using System.Globalization;
using Confiture.Core.Connections;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Migration;

/// <summary>
/// Copies a table as several key ranges at once. Every part reads the one snapshot the coordinator
/// exported, so together they are one consistent view of the source; each part commits on its own,
/// so on any failure the target is emptied again (and its deferred indexes rebuilt). A guard
/// transaction holds the table's run lock from before the emptiness check to the last commit, and
/// the deferred definitions are journaled in the transaction that drops them, so a process killed
/// at any point leaves nothing the next call cannot restore.
/// See https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-SNAPSHOT-SYNCHRONIZATION.
/// </summary>
internal sealed class ParallelCopy(TableMigrator migrator, DatabaseEndpoint source, DatabaseEndpoint target, MigrationPlan plan)
{
    /// <summary>Whether the target was emptied and parts began to commit: from then on a failure empties it again.</summary>
    public bool PartsStarted { get; private set; }

    /// <summary>What a failure left on the target, when cleaning up after it failed too; null otherwise.</summary>
    public string? Aftermath { get; private set; }

    private long _committedRows;

    public async Task<long> RunAsync(NpgsqlConnection targetConnection, Stopwatch clock, CancellationToken cancellationToken)
    {
        await using var coordinator = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var snapshotTransaction = await ReadSnapshot.BeginAsync(coordinator, NullObserver.Instance, cancellationToken).ConfigureAwait(false);
        var snapshot = await SqlExecutor.ScalarAsync<string>(coordinator, "SELECT pg_export_snapshot()", cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("pg_export_snapshot returned nothing.");
        var parts = await SplitAsync(coordinator, plan.Request.Parallel, cancellationToken).ConfigureAwait(false);

        // Held by its own connection to the end: the prepare and each part commit on others.
        await using var guardConnection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var guard = await guardConnection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await TableLock.AcquireAsync(guardConnection, target, plan.TargetOid, plan.QualifiedTarget, runLock: true, tableMode: null,
            plan.Request.LockTimeout, migrator.Observer, cancellationToken).ConfigureAwait(false);

        await using (var prepare = await targetConnection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false))
        {
            if (plan.Deferred is { IsEmpty: false } deferred)
            {
                await DeferredJournal.WriteAsync(targetConnection, plan.Request.TargetSchema, plan.TargetTable, deferred, migrator.Observer, cancellationToken).ConfigureAwait(false);
            }

            await migrator.PrepareTargetAsync(targetConnection, plan, cancellationToken, runLock: false).ConfigureAwait(false);
            await prepare.CommitAsync(cancellationToken).ConfigureAwait(false);
        }

        PartsStarted = true;

        var done = new long[parts.Count];
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var workers = parts.Select((where, index) => Task.Run(async () =>
        {
            try
            {
                await CopyPartAsync(snapshot, where, rows =>
                {
                    Volatile.Write(ref done[index], rows);
                    migrator.Observer.Progress(new MigrationProgress(plan.Request.SourceTable, done.Sum(), plan.Request.ExpectedRows, clock.Elapsed));
                }, failed.Token).ConfigureAwait(false);
            }
            catch
            {
                await failed.CancelAsync().ConfigureAwait(false);
                throw;
            }
        }, failed.Token)).ToList();

        try
        {
            await Task.WhenAll(workers).ConfigureAwait(false);
            await using var finish = await targetConnection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await migrator.FinishAsync(targetConnection, plan, done.Sum(), cancellationToken,
                afterRebuild: () => ForgetDeferredAsync(targetConnection, cancellationToken)).ConfigureAwait(false);
            await finish.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await EmptyTargetAsync().ConfigureAwait(false);
            // The first real failure, not the cancellations it caused in the other parts.
            var first = workers.Where(w => w.IsFaulted).Select(w => w.Exception!.InnerException).FirstOrDefault(e => e is not OperationCanceledException);
            if (first is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
            }

            throw;
        }

        return done.Sum();
    }

    private async Task CopyPartAsync(string snapshot, string? where, Action<long> report, CancellationToken cancellationToken)
    {
        await using var sourceConnection = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var readTransaction = await ReadSnapshot.BeginAsync(sourceConnection, NullObserver.Instance, cancellationToken, snapshot).ConfigureAwait(false);

        await using var targetConnection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var writeTransaction = await targetConnection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var rows = await migrator.CopyPartAsync(sourceConnection, targetConnection, plan, plan.ExportSql(where), plan.ImportSql(freeze: false), report, cancellationToken).ConfigureAwait(false);
        await TableStatistics.FlushCountersAsync(targetConnection, cancellationToken).ConfigureAwait(false);
        await writeTransaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        Interlocked.Add(ref _committedRows, rows);
    }

    private Task ForgetDeferredAsync(NpgsqlConnection connection, CancellationToken cancellationToken) =>
        plan.Deferred is { IsEmpty: false }
            ? DeferredJournal.ClearAsync(connection, plan.Request.TargetSchema, plan.TargetTable, migrator.Observer, cancellationToken)
            : Task.CompletedTask;

    /// <summary>
    /// Key ranges over a single-column integer primary key, else block ranges over ctid (a TID range
    /// scan from PostgreSQL 14 on). Open at both ends, so no row of the snapshot falls between parts.
    /// </summary>
    private async Task<IReadOnlyList<string?>> SplitAsync(NpgsqlConnection connection, int count, CancellationToken cancellationToken)
    {
        var keys = await SqlExecutor.ListAsync(connection,
            """
            SELECT a.attname, c.relkind FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary AND i.indnatts = 1
            LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] AND a.atttypid IN (20, 21, 23)
            WHERE n.nspname = $1 AND c.relname = $2
            """,
            r => (Key: r.IsDBNull(0) ? null : r.GetString(0), Kind: r.GetChar(1)), cancellationToken, plan.SourceSchema, plan.Request.SourceTable).ConfigureAwait(false);
        var (key, kind) = keys.Count > 0 ? keys[0] : (null, '?');

        // Inclusive bounds in 128 bits: max + 1 and max - min overflow a bigint at its extremes.
        Int128 low, high;
        Func<long, string, string> bound;
        if (key is not null)
        {
            var column = SqlText.Identifier(key);
            var range = await SqlExecutor.ListAsync(connection, $"SELECT min({column})::bigint, max({column})::bigint FROM {plan.QualifiedSource}",
                r => (Min: r.IsDBNull(0) ? (long?)null : r.GetInt64(0), Max: r.IsDBNull(1) ? (long?)null : r.GetInt64(1)), cancellationToken).ConfigureAwait(false);
            if (range[0].Min is null)
            {
                return [null];
            }

            (low, high) = (range[0].Min!.Value, range[0].Max!.Value);
            bound = (value, op) => $"{column} {op} {value.ToString(CultureInfo.InvariantCulture)}";
        }
        else if (kind == 'r')
        {
            var blocks = await SqlExecutor.ScalarAsync<long>(connection,
                $"SELECT pg_relation_size({SqlText.Literal(plan.QualifiedSource)}::regclass) / current_setting('block_size')::bigint", cancellationToken).ConfigureAwait(false);
            (low, high) = (0, Math.Max(blocks, 1) - 1);
            bound = (value, op) => $"ctid {op} '({value.ToString(CultureInfo.InvariantCulture)},0)'::tid";
        }
        else
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument,
                $"\"{plan.SourceSchema}\".\"{plan.Request.SourceTable}\" has no single-column integer primary key and is not a plain table, so it cannot be split.",
                plan.Request.SourceTable, "Leave -Parallel out for this table.");
        }

        return Split(low, high, count).Select(p => p.Count == 0 ? null : string.Join(" AND ", p.Select(c => bound(c.Value, c.Op)))).ToList();
    }

    /// <summary>
    /// At most <paramref name="count"/> parts over [low, high], as the conditions each adds: none on
    /// the first part's lower side or the last part's upper side, so rows outside the sampled range
    /// (added after it was read, say) still fall in a part. Every boundary lies inside [low, high].
    /// </summary>
    internal static IReadOnlyList<IReadOnlyList<(string Op, long Value)>> Split(Int128 low, Int128 high, int count)
    {
        var span = high - low + 1;
        var step = (span + count - 1) / count;
        var parts = new List<IReadOnlyList<(string Op, long Value)>>();
        for (var start = low; start <= high; start += step)
        {
            var conditions = new List<(string Op, long Value)>();
            if (start != low)
            {
                conditions.Add((">=", (long)start));
            }

            if (start + step <= high)
            {
                conditions.Add(("<", (long)(start + step)));
            }

            parts.Add(conditions);
        }

        return parts;
    }

    /// <summary>The finish may have committed on the server before its connection broke: rebuild only what is missing.</summary>
    private async Task RebuildIfMissingAsync(NpgsqlConnection connection)
    {
        if (plan.Deferred is not { IsEmpty: false } deferred)
        {
            return;
        }

        var present = await SqlExecutor.ScalarAsync<bool>(connection,
            deferred.Definitions[0].Kind == DeferredKind.Index
                ? "SELECT to_regclass($1) IS NOT NULL"
                : "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass($2) AND conname = $1)",
            CancellationToken.None, deferred.Definitions[0].QualifiedName, deferred.Definitions[0].Owner).ConfigureAwait(false);
        if (!present)
        {
            await migrator.RebuildDeferredAsync(connection, plan, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private async Task EmptyTargetAsync()
    {
        // Parts that committed must not stay behind as half a table; nor may the indexes stay dropped.
        try
        {
            await using var connection = await target.OpenAsync(CancellationToken.None).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(CancellationToken.None).ConfigureAwait(false);
            await SqlExecutor.ExecuteAsync(connection, plan.Truncate, migrator.Observer, CancellationToken.None).ConfigureAwait(false);
            await RebuildIfMissingAsync(connection).ConfigureAwait(false);
            await ForgetDeferredAsync(connection, CancellationToken.None).ConfigureAwait(false);
            await transaction.CommitAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NpgsqlException or ConfitureException)
        {
            var committed = Interlocked.Read(ref _committedRows);
            var deferred = plan.Deferred is { IsEmpty: false } d ? d.Definitions.Count : 0;
            Aftermath = $"Removing the parts already written failed too on the target server {target} ({ex.Message}): " +
                        (committed > 0 ? $"the {committed} rows of the parts that committed remain in {plan.QualifiedTarget}" : $"no part had committed, so {plan.QualifiedTarget} holds no row of this run")
                        + (plan.Request.Truncate ? " (its earlier rows were truncated)" : string.Empty)
                        + (deferred > 0
                            ? $", and {deferred} index(es)/constraint(s) it deferred may still be dropped; they are recorded in {Record.TargetRecord.Schema}.deferred_definition and the next Confiture migration on this target empties the table and restores them."
                            : ".")
                        + " Run the migration again with -Truncate.";
            migrator.Observer.Warning(Aftermath);
        }
    }
}
