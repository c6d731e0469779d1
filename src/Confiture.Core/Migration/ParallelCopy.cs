using System.Diagnostics;
using System.Globalization;
using Confiture.Core.Connections;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Migration;

/// <summary>
/// Copies a table as several key ranges at once. Every part reads the one snapshot the coordinator
/// exported, so together they are one consistent view of the source; each part commits on its own,
/// so on any failure the target is emptied again (and its deferred indexes rebuilt).
/// See https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-SNAPSHOT-SYNCHRONIZATION.
/// </summary>
internal sealed class ParallelCopy(TableMigrator migrator, DatabaseEndpoint source, DatabaseEndpoint target, MigrationPlan plan)
{
    /// <summary>Whether the target was emptied and parts began to commit: from then on a failure empties it again.</summary>
    public bool PartsStarted { get; private set; }

    public async Task<long> RunAsync(NpgsqlConnection targetConnection, Stopwatch clock, CancellationToken cancellationToken)
    {
        await using var coordinator = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var snapshotTransaction = await ReadSnapshot.BeginAsync(coordinator, NullObserver.Instance, cancellationToken).ConfigureAwait(false);
        var snapshot = await SqlExecutor.ScalarAsync<string>(coordinator, "SELECT pg_export_snapshot()", cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("pg_export_snapshot returned nothing.");
        var parts = await SplitAsync(coordinator, plan.Request.Parallel, cancellationToken).ConfigureAwait(false);

        await using (var prepare = await targetConnection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false))
        {
            await migrator.PrepareTargetAsync(targetConnection, plan, cancellationToken).ConfigureAwait(false);
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
            await migrator.FinishAsync(targetConnection, plan, done.Sum(), cancellationToken).ConfigureAwait(false);
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
        await migrator.CopyPartAsync(sourceConnection, targetConnection, plan, plan.ExportSql(where), plan.ImportSql(freeze: false), report, cancellationToken).ConfigureAwait(false);
        await writeTransaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

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

        long low, high;
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

            (low, high) = (range[0].Min!.Value, range[0].Max!.Value + 1);
            bound = (value, op) => $"{column} {op} {value.ToString(CultureInfo.InvariantCulture)}";
        }
        else if (kind == 'r')
        {
            var blocks = await SqlExecutor.ScalarAsync<long>(connection,
                $"SELECT pg_relation_size({SqlText.Literal(plan.QualifiedSource)}::regclass) / current_setting('block_size')::bigint", cancellationToken).ConfigureAwait(false);
            (low, high) = (0, Math.Max(blocks, 1));
            bound = (value, op) => $"ctid {op} '({value.ToString(CultureInfo.InvariantCulture)},0)'::tid";
        }
        else
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument,
                $"\"{plan.SourceSchema}\".\"{plan.Request.SourceTable}\" has no single-column integer primary key and is not a plain table, so it cannot be split.",
                plan.Request.SourceTable, "Leave -Parallel out for this table.");
        }

        var step = Math.Max(1, (long)Math.Ceiling((high - low) / (double)count));
        var parts = new List<string?>();
        for (var start = low; start < high; start += step)
        {
            var first = start == low;
            var last = start + step >= high;
            var conditions = new List<string>();
            if (!first)
            {
                conditions.Add(bound(start, ">="));
            }

            if (!last)
            {
                conditions.Add(bound(start + step, "<"));
            }

            parts.Add(conditions.Count == 0 ? null : string.Join(" AND ", conditions));
        }

        return parts;
    }

    private async Task EmptyTargetAsync()
    {
        // Parts that committed must not stay behind as half a table; nor may the indexes stay dropped.
        try
        {
            await using var connection = await target.OpenAsync(CancellationToken.None).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(CancellationToken.None).ConfigureAwait(false);
            await SqlExecutor.ExecuteAsync(connection, plan.Truncate, migrator.Observer, CancellationToken.None).ConfigureAwait(false);
            await migrator.RebuildDeferredAsync(connection, plan, CancellationToken.None).ConfigureAwait(false);
            await transaction.CommitAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NpgsqlException or ConfitureException)
        {
            migrator.Observer.Warning($"Could not empty {plan.QualifiedTarget} after the failure ({ex.Message}); run the migration again with -Truncate.");
        }
    }
}
