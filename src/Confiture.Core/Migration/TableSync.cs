using System.Diagnostics;
using Confiture.Core.Connections;
using Confiture.Core.Errors;
using Confiture.Core.Record;
using Confiture.Core.Sql;
using Confiture.Core.Verification;
using Npgsql;

namespace Confiture.Core.Migration;

/// <summary>
/// Brings a migrated target table up to date with the source, reading the source only, in one
/// target transaction, changing rows in place. By default it compares digests per key range and
/// rewrites, within the ranges that differ, exactly the rows that differ; with a change column it
/// reads the rows the source wrote since the last recorded sync and deletes the rows the source no
/// longer has.
/// </summary>
internal sealed class TableSync(DatabaseEndpoint source, DatabaseEndpoint target, TableMigrator migrator, IOperationObserver observer)
{
    public async Task<TableMigrationResult> SyncAsync(TableMigrationRequest request, string? changedSince, CancellationToken cancellationToken)
    {
        if (request.Truncate || request.DeferIndexes || request.Parallel > 1)
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument,
                "Sync changes only what differs: it cannot be combined with Truncate, DeferIndexes or Parallel.", request.SourceTable,
                "Leave -Truncate, -DeferIndexes and -Parallel out with -Sync.");
        }

        var clock = Stopwatch.StartNew();
        MigrationPlan plan;
        IReadOnlyList<MappedColumn> keys;
        await using (var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false))
        {
            // Given no mapping, a sync keeps the one the table was migrated with, as a verification
            // does: by shared names, a renamed column would get no value in the rows it inserts.
            var recorded = request.ColumnMapping is null && request.Map is null && !request.SharedColumnsOnly
                ? await RecordedMapAsync(connection, request, cancellationToken).ConfigureAwait(false)
                : null;
            if (recorded is not null && recorded.SourceTable == request.SourceTable)
            {
                plan = await migrator.PlanAsync(connection, request with { Append = true, ColumnMapping = recorded.Columns }, MigrationStrategy.Copy, cancellationToken)
                    .ConfigureAwait(false);
                if (plan.SourceSchema != recorded.SourceSchema)
                {
                    plan = await migrator.PlanAsync(connection, request with { Append = true }, MigrationStrategy.Copy, cancellationToken).ConfigureAwait(false);
                }
            }
            else
            {
                plan = await migrator.PlanAsync(connection, request with { Append = true }, MigrationStrategy.Copy, cancellationToken).ConfigureAwait(false);
            }
        }

        keys = await TableVerifier.KeyColumnsAsync(target, plan.TargetOid, plan.Columns, request.SourceTable, plan.TargetTable, cancellationToken).ConfigureAwait(false);
        SyncResult result;
        TimeSpan? analyzed;
        try
        {
            // One run per target table: the guard's own transaction holds the run lock until the
            // sync commits, taken before the sync reads a snapshot, so it never reads one older
            // than a migration of the table that just committed.
            await using var guardConnection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var guard = await guardConnection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await TableLock.AcquireAsync(guardConnection, target, plan.TargetOid, plan.QualifiedTarget, runLock: true, tableMode: null,
                request.LockTimeout, observer, cancellationToken).ConfigureAwait(false);
            (result, analyzed) = changedSince is null
                ? await SyncRangesAsync(plan, keys, cancellationToken).ConfigureAwait(false)
                : await SyncChangesAsync(plan, keys, changedSince, cancellationToken).ConfigureAwait(false);
        }
        catch (NpgsqlException ex) when (ex is PostgresException || !cancellationToken.IsCancellationRequested)
        {
            throw new ErrorTranslator(source, target).Translate(ex, $"syncing \"{request.SourceTable}\" into \"{plan.TargetTable}\"", request.SourceTable,
                ConfitureErrorKind.MigrationFailed, "The target was rolled back; nothing changed.")!;
        }

        return new TableMigrationResult(plan.SourceSchema, request.SourceTable, request.TargetSchema, plan.TargetTable, MigrationStrategy.Copy,
            result.RowsChanged, clock.Elapsed, plan.Columns.Select(c => c.Pair).ToList()) { Sync = result, AnalyzeElapsed = analyzed };
    }

    /// <summary>The recorded map, or null also when this role may not read the record (then the request's own rule applies).</summary>
    private static async Task<MigratedMap?> RecordedMapAsync(NpgsqlConnection connection, TableMigrationRequest request, CancellationToken cancellationToken)
    {
        try
        {
            return await TableMapRecord.ReadAsync(connection, request.TargetSchema, request.EffectiveTargetTable, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            return null;
        }
    }

    /// <returns>What changed, and how long the ANALYZE that followed took (null when none ran).</returns>
    private async Task<(SyncResult Result, TimeSpan? Analyzed)> SyncRangesAsync(MigrationPlan plan, IReadOnlyList<MappedColumn> keys, CancellationToken cancellationToken)
    {
        var sourceSide = DigestSide.OpenAsync(source, plan.QualifiedSource,
            plan.Columns.Select(c => c.SourceDigestExpression).ToList(), keys.Select(k => k.SourceSideExpression).ToList(), plan.Settings, cancellationToken);
        var targetSide = DigestSide.OpenAsync(target, plan.QualifiedTarget,
            plan.Columns.Select(c => c.TargetDigestExpression).ToList(), keys.Select(k => SqlText.Identifier(k.Target.Name)).ToList(), plan.Settings, cancellationToken, writable: true);
        await using var left = await sourceSide.ConfigureAwait(false);
        await using var right = await targetSide.ConfigureAwait(false);

        var integerKey = keys.Count == 1 && keys[0].Target.IsInteger;
        var progress = new PhaseProgress(observer, plan.Request.SourceTable);
        var finder = new DifferenceFinder(left, right, integerKey, int.MaxValue, progress);
        var ranges = await finder.FindRangesAsync(cancellationToken).ConfigureAwait(false);
        var counts = new Counts();
        if (ranges.Count > 0)
        {
            var rows = new RowWriter(plan, keys, observer);
            await rows.CreateStagingAsync(right.Connection, cancellationToken).ConfigureAwait(false);
            var total = ranges.Sum(r => (long)r.Ranges);
            progress.Begin($"Rewriting the rows of {total:N0} key ranges", total, "key ranges");
            // A few hundred ranges per pass: one statement each way stays small, and the staged
            // rows of one pass are all the server holds at a time.
            foreach (var batch in ranges.Chunk(RangesPerPass))
            {
                var before = counts.Inserted + counts.Updated + counts.Deleted;
                var sourceWhere = string.Join(" OR ", batch.Select(r => $"({r.SourceWhere})"));
                var targetWhere = string.Join(" OR ", batch.Select(r => $"({r.TargetWhere})"));
                await rows.StageAsync(left.Connection, right.Connection, migrator, plan.ExportSql(sourceWhere), cancellationToken).ConfigureAwait(false);
                counts.Deleted += await rows.DeleteUnstagedAsync(right.Connection, targetWhere, cancellationToken).ConfigureAwait(false);
                counts.Updated += await rows.UpdateAsync(right.Connection, cancellationToken).ConfigureAwait(false);
                counts.Inserted += await rows.InsertAsync(right.Connection, cancellationToken).ConfigureAwait(false);
                await rows.ClearStagingAsync(right.Connection, cancellationToken).ConfigureAwait(false);
                progress.Advance(batch.Sum(r => (long)r.Ranges), counts.Inserted + counts.Updated + counts.Deleted - before);
            }

            await migrator.MoveSequencesAsync(right.Connection, plan, cancellationToken).ConfigureAwait(false);
        }

        var analyzed = await TableStatistics.AfterSyncAsync(right.Connection, plan, counts.Inserted + counts.Updated + counts.Deleted, observer, cancellationToken).ConfigureAwait(false);

        // Every row this snapshot sees is now on the target: a later -ChangedSince sync starts here.
        await SyncMark.WriteAsync(right.Connection, plan, await SyncMark.SnapshotHorizonAsync(left.Connection, cancellationToken).ConfigureAwait(false), observer, cancellationToken)
            .ConfigureAwait(false);
        await right.CommitAsync(cancellationToken).ConfigureAwait(false);
        return (new SyncResult(counts.Inserted, counts.Updated, counts.Deleted, finder.RangesCompared), analyzed);
    }

    private async Task<(SyncResult Result, TimeSpan? Analyzed)> SyncChangesAsync(MigrationPlan plan, IReadOnlyList<MappedColumn> keys, string changedSince, CancellationToken cancellationToken)
    {
        var changeColumn = plan.Columns.FirstOrDefault(c => c.Source.Name == changedSince || c.Target.Name == changedSince)
            ?? throw new ConfitureException(ConfitureErrorKind.ColumnNotFound,
                $"-ChangedSince names \"{changedSince}\", which is not a mapped column of \"{plan.Request.SourceTable}\".", plan.Request.SourceTable,
                "Name a column that the migration maps (for example updated_at), so the target keeps its newest value.");

        await using var sourceConnection = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var snapshot = await ReadSnapshot.BeginAsync(sourceConnection, observer, cancellationToken).ConfigureAwait(false);
        await using var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        // The watermark crosses from one server to the other as text, and the target compares rows
        // as text: both servers must write and read it alike.
        await plan.Settings.ApplyAsync(sourceConnection, observer, cancellationToken).ConfigureAwait(false);
        await plan.Settings.ApplyAsync(connection, observer, cancellationToken).ConfigureAwait(false);

        // A change column alone misses rows: a transaction that began before the last sync and
        // committed after it carries an older time than the newest row that sync saw, and a NULL
        // compares to nothing. The source's transaction ids miss neither, so the rows read are those
        // written since the last sync's snapshot. Without a usable mark (the first sync, another
        // mapping, a mark too far behind, or a source whose ids went back) only a comparison of
        // the whole table is sure.
        var horizon = await SyncMark.SnapshotHorizonAsync(sourceConnection, cancellationToken).ConfigureAwait(false);
        var mark = await SyncMark.ReadAsync(connection, plan, cancellationToken).ConfigureAwait(false);
        if (mark is not { } since || horizon < since || horizon - since > SyncMark.MaxDistance)
        {
            await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
            observer.Warning(mark is null
                ? $"No earlier sync of \"{plan.TargetTable}\" from \"{plan.Request.SourceTable}\" with this mapping is recorded: comparing range digests of the whole table once; later -ChangedSince syncs read only what changed."
                : $"The last recorded sync of \"{plan.TargetTable}\" is too far behind the source's transactions to trust: comparing range digests of the whole table.");
            return await SyncRangesAsync(plan, keys, cancellationToken).ConfigureAwait(false);
        }

        // The newest change the target holds still bounds the read as well, at no extra scan.
        var targetChange = SqlText.Identifier(changeColumn.Target.Name);
        var watermark = await SqlExecutor.ScalarAsync<string>(connection,
            $"SELECT max({targetChange})::text FROM {plan.QualifiedTarget}", cancellationToken).ConfigureAwait(false);
        var atOrPast = watermark is null ? null : AtOrPast(changeColumn, watermark);
        var changed = SyncMark.WrittenSince(since) + (atOrPast is null ? string.Empty : " OR " + atOrPast);

        var rows = new RowWriter(plan, keys, observer);
        var counts = new Counts();
        // Neither step can tell its size beforehand: the phases are named, their rows counted when done.
        var progress = new PhaseProgress(observer, plan.Request.SourceTable);
        progress.Begin("Rewriting the rows the source changed since the last sync", null, "rows");
        await rows.CreateStagingAsync(connection, cancellationToken).ConfigureAwait(false);
        await rows.StageAsync(sourceConnection, connection, migrator, plan.ExportSql(changed), cancellationToken).ConfigureAwait(false);
        counts.Updated = await rows.UpdateAsync(connection, cancellationToken).ConfigureAwait(false);
        counts.Inserted = await rows.InsertAsync(connection, cancellationToken).ConfigureAwait(false);
        progress.Advance(0, counts.Updated + counts.Inserted);
        progress.Begin("Deleting the rows gone from the source (comparing all keys)", null, "rows");

        // Deletions leave no row behind to find by id or time: compare the full key sets instead.
        var keyList = SqlText.IdentifierList(keys.Select(k => k.Target.Name));
        await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain(
            $"CREATE TEMP TABLE confiture_keys ON COMMIT DROP AS SELECT {keyList} FROM {plan.QualifiedTarget} WITH NO DATA"), observer, cancellationToken).ConfigureAwait(false);
        var keyFormat = keys.Any(k => k.NeedsText) ? "text" : "binary";
        var keyExport = $"COPY (SELECT {string.Join(", ", keys.Select(k => k.SourceSideExpression))} FROM {plan.QualifiedSource}) TO STDOUT (FORMAT {keyFormat})";
        var keyImport = $"COPY pg_temp.confiture_keys ({keyList}) FROM STDIN (FORMAT {keyFormat})";
        var keysTable = await RowWriter.TemporaryTableOidAsync(connection, "pg_temp.confiture_keys", cancellationToken).ConfigureAwait(false);
        await migrator.CopyPartAsync(sourceConnection, connection, plan with { Columns = keys, TargetOid = keysTable }, keyExport, keyImport, _ => { }, cancellationToken).ConfigureAwait(false);
        counts.Deleted = await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain(
            $"DELETE FROM {plan.QualifiedTarget} t WHERE NOT EXISTS (SELECT 1 FROM pg_temp.confiture_keys k WHERE {RowWriter.KeysMatch(keys, "k", "t")})"),
            observer, cancellationToken).ConfigureAwait(false);
        progress.Advance(0, counts.Deleted);

        await migrator.MoveSequencesAsync(connection, plan, cancellationToken).ConfigureAwait(false);
        var analyzed = await TableStatistics.AfterSyncAsync(connection, plan, counts.Inserted + counts.Updated + counts.Deleted, observer, cancellationToken).ConfigureAwait(false);
        await SyncMark.WriteAsync(connection, plan, horizon, observer, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return (new SyncResult(counts.Inserted, counts.Updated, counts.Deleted, 0), analyzed);
    }

    /// <summary>
    /// The source rows whose change column is at or past the watermark, compared in a type the
    /// source has: its own where the values are the same, the cast's where the rule casts; a value
    /// the target's input reads (a target-only type) compares as nothing meaningful, and the mark
    /// alone decides.
    /// </summary>
    private static string? AtOrPast(MappedColumn column, string watermark) => column.Conversion switch
    {
        ConversionKind.None => $"{SqlText.Identifier(column.Source.Name)} >= {SqlText.Literal(watermark)}::{column.Source.TypeName}",
        ConversionKind.Cast => $"({column.SourceSideExpression}) >= {SqlText.Literal(watermark)}::{column.Target.Shape.BaseCastName}",
        _ => null,
    };

    /// <summary>Differing ranges handled per pass of staging and set operations.</summary>
    private const int RangesPerPass = 500;

    private sealed class Counts
    {
        public long Inserted { get; set; }

        public long Updated { get; set; }

        public long Deleted { get; set; }
    }
}
