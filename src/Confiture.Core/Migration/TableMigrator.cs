using System.Diagnostics;
using Confiture.Core.Connections;
using Confiture.Core.Errors;
using Confiture.Core.Fdw;
using Confiture.Core.Record;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Migration;

/// <summary>
/// Moves one table in one target transaction: all rows or none. Checks the mapping against both
/// catalogs first, refuses a non-empty target unless told to replace or append, and moves identity
/// and serial sequences past the migrated values.
/// </summary>
internal sealed class TableMigrator(DatabaseEndpoint source, DatabaseEndpoint target, FdwSettings settings, IOperationObserver observer)
{
    private const string IndexBuildMemory = "SET LOCAL maintenance_work_mem = '256MB'";

    internal IOperationObserver Observer => observer;

    /// <summary>Works out what a migration would run, from the catalogs; writes nothing.</summary>
    public async Task<MigrationPlan> PlanAsync(TableMigrationRequest request, MigrationStrategy strategy, CancellationToken cancellationToken)
    {
        await using var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await PlanAsync(connection, request, strategy, cancellationToken).ConfigureAwait(false);
    }

    public async Task<TableMigrationResult> MigrateAsync(TableMigrationRequest request, MigrationStrategy strategy, CancellationToken cancellationToken)
    {
        await using var targetConnection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        await RestoreFromJournalAsync(targetConnection, cancellationToken).ConfigureAwait(false);
        var plan = await PlanAsync(targetConnection, request, strategy, cancellationToken).ConfigureAwait(false);
        return (await ExecuteAsync(targetConnection, [plan], RunContext.Alone, cancellationToken).ConfigureAwait(false))[0];
    }

    /// <summary>
    /// Runs planned tables: one alone, or one group of a run (the tables of a key cycle) in one
    /// target transaction, all reading the run's source snapshot.
    /// </summary>
    internal async Task<IReadOnlyList<TableMigrationResult>> ExecuteAsync(
        NpgsqlConnection targetConnection, IReadOnlyList<MigrationPlan> plans, RunContext run, CancellationToken cancellationToken)
    {
        var plan = plans[0];
        var parallel = plans.Count == 1 && plan.Request.Parallel > 1 ? new ParallelCopy(this, source, target, plan) : null;
        try
        {
            if (parallel is not null)
            {
                var clock = Stopwatch.StartNew();
                var rows = await parallel.RunAsync(targetConnection, clock, cancellationToken).ConfigureAwait(false);
                return [Result(plan, rows, clock.Elapsed)];
            }

            return await MigrateInOneTransactionAsync(targetConnection, plans, run, current => plan = current, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (ValueFitDiagnosis.Applies(ex) && !cancellationToken.IsCancellationRequested)
        {
            var keys = await PrimaryKeyOrNoneAsync(plan, cancellationToken).ConfigureAwait(false);
            throw await ValueFitDiagnosis.ExplainAsync(source, plan, ex, keys, Aftermath(parallel), cancellationToken).ConfigureAwait(false);
        }
        catch (NpgsqlException ex) when (ex is PostgresException || !cancellationToken.IsCancellationRequested)
        {
            // A broken connection without a server error (server stopped, network lost) is named
            // too: the target's server aborts a transaction whose client is gone.
            throw Failed(ex, plan.Request.SourceTable, plan.TargetTable, parallel);
        }
    }

    private TableMigrationResult Result(MigrationPlan plan, long rows, TimeSpan elapsed) =>
        new(plan.SourceSchema, plan.Request.SourceTable, plan.Request.TargetSchema, plan.TargetTable, plan.Strategy, rows, elapsed,
            plan.Columns.Select(c => c.Pair).ToList()) { AnalyzeElapsed = _analyzed.TryRemove(plan, out var analyzed) ? analyzed : null };

    /// <summary>How long each finished plan's ANALYZE took, until its result is made.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<MigrationPlan, TimeSpan> _analyzed = new(ReferenceEqualityComparer.Instance);

    private async Task<IReadOnlyList<TableMigrationResult>> MigrateInOneTransactionAsync(
        NpgsqlConnection connection, IReadOnlyList<MigrationPlan> plans, RunContext run, Action<MigrationPlan> working, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        // The keys of a cycle go and come back inside this one transaction: nothing is committed without them.
        await RunAllAsync(connection, run.CycleKeys.Select(k => k.Drop), cancellationToken).ConfigureAwait(false);
        var results = new List<TableMigrationResult>(plans.Count);
        foreach (var plan in plans)
        {
            working(plan);
            var clock = Stopwatch.StartNew();
            await PrepareTargetAsync(connection, plan, cancellationToken).ConfigureAwait(false);
            long rows;
            if (plan.Strategy == MigrationStrategy.Fdw)
            {
                await plan.Settings.ApplyAsync(connection, observer, cancellationToken).ConfigureAwait(false);
                rows = await InsertThroughFdwAsync(connection, plan, clock, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                rows = await CopyAsync(connection, plan, clock, run.Snapshot, cancellationToken).ConfigureAwait(false);
            }

            await FinishAsync(connection, plan, rows, cancellationToken, runId: run.RunId).ConfigureAwait(false);
            results.Add(Result(plan, rows, clock.Elapsed));
        }

        await RunAllAsync(connection, run.CycleKeys.Select(k => k.Add), cancellationToken).ConfigureAwait(false);
        if (run.BeforeCommit is { } beforeCommit)
        {
            await beforeCommit(connection, cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return results;
    }

    /// <summary>Keys per INSERT of an Fdw load split by key, so its progress is reported as it goes.</summary>
    private const long FdwChunkKeys = 100_000;

    /// <summary>
    /// INSERT ... SELECT through the foreign table, in ranges of a single-column integer primary key
    /// of the source when it has one (open at both ends, so no row falls between them), each reported
    /// as it completes; all in the caller's transaction, and so in one remote REPEATABLE READ snapshot,
    /// which postgres_fdw keeps for the whole local transaction. INSERT counts only the rows it
    /// stored (a trigger may skip some): what the target holds.
    /// </summary>
    private async Task<long> InsertThroughFdwAsync(NpgsqlConnection connection, MigrationPlan plan, Stopwatch clock, CancellationToken cancellationToken)
    {
        var ranges = await FdwRangesAsync(connection, plan, cancellationToken).ConfigureAwait(false);
        long rows = 0;
        foreach (var where in ranges)
        {
            rows += await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain(plan.InsertSql(settings.ForeignSchema, where)), observer, cancellationToken).ConfigureAwait(false);
            if (ranges.Count > 1)
            {
                observer.Progress(new MigrationProgress(plan.Request.SourceTable, rows, plan.Request.ExpectedRows, clock.Elapsed));
            }
        }

        return rows;
    }

    private async Task<IReadOnlyList<string?>> FdwRangesAsync(NpgsqlConnection targetConnection, MigrationPlan plan, CancellationToken cancellationToken)
    {
        await using var connection = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
        var keys = await SqlExecutor.ListAsync(connection,
            """
            SELECT a.attname FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary AND i.indnatts = 1
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] AND a.atttypid IN (20, 21, 23)
            WHERE n.nspname = $1 AND c.relname = $2
            """,
            r => r.GetString(0), cancellationToken, plan.SourceSchema, plan.Request.SourceTable).ConfigureAwait(false);
        if (keys.Count == 0)
        {
            return [null];
        }

        // The foreign table must have the key column to filter on (an excluded source column is still there; a stale import may not be).
        var foreign = await TableCatalog.FindAsync(targetConnection, settings.ForeignSchema, plan.Request.SourceTable, cancellationToken).ConfigureAwait(false);
        if (foreign?.Columns.Any(c => c.Name == keys[0]) != true)
        {
            return [null];
        }

        var column = SqlText.Identifier(keys[0]);
        var range = await SqlExecutor.ListAsync(connection, $"SELECT min({column})::bigint, max({column})::bigint FROM {plan.QualifiedSource}",
            r => (Min: r.IsDBNull(0) ? (long?)null : r.GetInt64(0), Max: r.IsDBNull(1) ? (long?)null : r.GetInt64(1)), cancellationToken).ConfigureAwait(false);
        if (range[0] is not { Min: { } low, Max: { } high })
        {
            return [null];
        }

        var count = (int)Int128.Clamp(((Int128)high - low + 1) / FdwChunkKeys, 1, 1000);
        return ParallelCopy.Split(low, high, count)
            .Select(p => p.Count == 0 ? null : string.Join(" AND ", p.Select(c => $"{column} {c.Op} {c.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)}")))
            .ToList();
    }

    /// <summary>What follows the rows, in the load's last transaction: indexes back, statistics made, sequences forward, the map recorded.</summary>
    internal async Task FinishAsync(NpgsqlConnection connection, MigrationPlan plan, long rows, CancellationToken cancellationToken, Func<Task>? afterRebuild = null, Guid? runId = null)
    {
        await RebuildDeferredAsync(connection, plan, cancellationToken).ConfigureAwait(false);
        if (afterRebuild is not null)
        {
            await afterRebuild().ConfigureAwait(false);
        }

        if (await TableStatistics.AfterLoadAsync(connection, plan, plan.LoadsFrozen, observer, cancellationToken).ConfigureAwait(false) is { } analyzed)
        {
            _analyzed[plan] = analyzed;
        }

        await MoveSequencesAsync(connection, plan, cancellationToken).ConfigureAwait(false);
        var map = MigratedMap.From(plan, settings.ServerName);
        await TableMapRecord.WriteAsync(connection, map, rows, observer, cancellationToken).ConfigureAwait(false);
        if (runId is { } id)
        {
            // The run's ledger learns of the table in the transaction of its rows: -Resume trusts it.
            await RunLedger.RecordTableAsync(connection, id, map, rows, observer, cancellationToken).ConfigureAwait(false);
        }

        Migrated?.Invoke(map);
    }

    /// <summary>Told of each table's map once its load has committed its last part.</summary>
    internal Action<MigratedMap>? Migrated { get; init; }

    private async Task<IReadOnlyList<MappedColumn>> PrimaryKeyOrNoneAsync(MigrationPlan plan, CancellationToken cancellationToken)
    {
        try
        {
            return await Verification.TableVerifier.KeyColumnsAsync(target, plan.TargetOid, plan.Columns, plan.Request.SourceTable, plan.TargetTable, cancellationToken).ConfigureAwait(false);
        }
        catch (ConfitureException)
        {
            return [];
        }
    }

    internal async Task RebuildDeferredAsync(NpgsqlConnection connection, MigrationPlan plan, CancellationToken cancellationToken)
    {
        if (plan.Deferred is { IsEmpty: false } deferred)
        {
            await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain(IndexBuildMemory), observer, cancellationToken).ConfigureAwait(false);
            await RunAllAsync(connection, deferred.Rebuilds, cancellationToken).ConfigureAwait(false);
        }
    }

    internal async Task RunAllAsync(NpgsqlConnection connection, IEnumerable<SqlStatement> statements, CancellationToken cancellationToken)
    {
        foreach (var statement in statements)
        {
            await SqlExecutor.ExecuteAsync(connection, statement, observer, cancellationToken).ConfigureAwait(false);
        }
    }

    internal async Task<MigrationPlan> PlanAsync(NpgsqlConnection connection, TableMigrationRequest request, MigrationStrategy strategy, CancellationToken cancellationToken)
    {
        Validate(request, strategy);
        var sourceSchema = string.IsNullOrEmpty(request.SourceSchema) ? settings.SourceSchema : request.SourceSchema;
        var targetTable = request.EffectiveTargetTable;
        await SourceTables.RequireTableAsync(source, sourceSchema, request.SourceTable, "migrate", cancellationToken).ConfigureAwait(false);
        var targetInfo = await TableCatalog.FindAsync(connection, request.TargetSchema, targetTable, cancellationToken).ConfigureAwait(false);
        if (targetInfo is null || targetInfo.Kind is not ('r' or 'p'))
        {
            throw new ConfitureException(ConfitureErrorKind.TableNotFound,
                $"Table \"{request.TargetSchema}\".\"{targetTable}\" does not exist in the target database {target}.",
                targetTable, "Create the target schema first (Confiture moves data, not DDL), or pass -TargetTable/-TargetSchema.");
        }

        if (request.DeferIndexes && targetInfo.Kind != 'r')
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument,
                $"-DeferIndexes cannot defer the indexes of the partitioned table \"{request.TargetSchema}\".\"{targetTable}\": each partition's index is attached " +
                "to an index or key of the partitioned table, so PostgreSQL drops them only all together, and building them back under the partitions' own names " +
                "takes a create and an attach for every partition, which Confiture does not do. Nothing was written.", targetTable,
                $"Leave -DeferIndexes out for \"{targetTable}\" (its partitions' indexes are then filled during the load); other tables can keep it.");
        }

        // The source's own catalog always decides the columns and their types; the foreign table
        // imported at setup may be out of date with it, and then Fdw would read other columns than Copy.
        var sourceColumns = await SourceColumnsAsync(sourceSchema, request.SourceTable, cancellationToken).ConfigureAwait(false);
        var pairs = request.ColumnMapping
            ?? (request.SharedColumnsOnly ? null : ColumnMapper.PairsFromMap(request.SourceTable, sourceColumns, targetTable, targetInfo.Columns, request.Map ?? TableMap.Empty));
        var columns = ColumnMapper.Resolve(request.SourceTable, sourceColumns, targetTable, targetInfo.Columns, pairs);
        if (strategy == MigrationStrategy.Fdw)
        {
            var foreignColumns = await ForeignColumnsAsync(connection, sourceSchema, request.SourceTable, cancellationToken).ConfigureAwait(false);
            ForeignTableCheck.RequireCurrent(settings.ForeignSchema, request.SourceTable, columns, foreignColumns);
        }

        var conversion = await ConversionSettings.ReadAsync(connection, cancellationToken).ConfigureAwait(false);
        var qualifiedTarget = SqlText.Qualified(request.TargetSchema, targetTable);
        var deferred = request.DeferIndexes ? await DeferredIndexes.CaptureAsync(connection, targetInfo.Oid, cancellationToken).ConfigureAwait(false) : null;

        var sequences = await SequenceLinks.FindAsync(connection, target, targetInfo.Oid,
            columns.Select(c => c.Target.Name).ToList(), request.SourceTable, observer, cancellationToken).ConfigureAwait(false);

        return new MigrationPlan(request, strategy, sourceSchema, targetTable, qualifiedTarget, targetInfo.Kind, columns, deferred, sequences, targetInfo.Oid, conversion)
        {
            Defaulted = targetInfo.Columns.Where(t => !t.Generated && columns.All(c => c.Target.Name != t.Name)).Select(t => t.Name).ToList(),
            Excluded = sourceColumns.Where(s => columns.All(c => c.Source.Name != s.Name)).Select(s => s.Name).ToList(),
        };
    }

    private static void Validate(TableMigrationRequest request, MigrationStrategy strategy)
    {
        static ConfitureException Invalid(string message, string? table, string action) =>
            new(ConfitureErrorKind.InvalidArgument, message, table, action);

        if (string.IsNullOrWhiteSpace(request.SourceTable))
        {
            throw Invalid("SourceTable cannot be empty.", null, "Name the source table to migrate.");
        }

        if (string.IsNullOrWhiteSpace(request.TargetSchema))
        {
            throw Invalid("TargetSchema cannot be empty.", request.SourceTable, "Leave -TargetSchema out for public.");
        }

        foreach (var name in new[] { request.SourceTable, request.SourceSchema, request.TargetTable, request.TargetSchema }
                     .Concat(request.ColumnMapping?.SelectMany(p => new[] { p.Source, p.Target }) ?? []))
        {
            if (name is not null)
            {
                SqlText.RejectNul(name, "name");
            }
        }

        if (request.Truncate && request.Append)
        {
            throw Invalid("Truncate and Append cannot be used together.", request.SourceTable, "Use -Truncate to replace the target's rows, or -Append to add to them.");
        }

        if (request.DeferIndexes && request.Append)
        {
            throw Invalid("DeferIndexes needs an empty target (or -Truncate), not -Append: rebuilding indexes over existing rows is no faster.",
                request.SourceTable, "Leave -DeferIndexes out with -Append.");
        }

        if (request.Parallel is < 1 or > 64)
        {
            throw Invalid($"Parallel {request.Parallel} is not from 1 to 64.", request.SourceTable, "Pass -Parallel 2 to 64, or leave it out.");
        }

        if (request.Parallel > 1 && (strategy != MigrationStrategy.Copy || request.Append))
        {
            throw Invalid("Parallel needs the Copy strategy and an empty target (or -Truncate).", request.SourceTable,
                "Add -Strategy Copy, and leave -Append out.");
        }
    }

    private async Task<IReadOnlyList<TableColumn>> SourceColumnsAsync(string schema, string table, CancellationToken cancellationToken)
    {
        await using var connection = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
        var info = await TableCatalog.FindAsync(connection, schema, table, cancellationToken).ConfigureAwait(false);
        return info?.Columns ?? throw new ConfitureException(ConfitureErrorKind.TableNotFound,
            $"Table \"{schema}\".\"{table}\" does not exist in the source database {source}.",
            table, "Check the name (it is case-sensitive) and -SourceSchema.");
    }

    private async Task<IReadOnlyList<TableColumn>> ForeignColumnsAsync(NpgsqlConnection connection, string sourceSchema, string table, CancellationToken cancellationToken)
    {
        if (sourceSchema != settings.SourceSchema)
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument,
                $"The Fdw strategy reads the foreign tables imported from schema \"{settings.SourceSchema}\", not \"{sourceSchema}\".",
                table, "Use -Strategy Copy, or run Enable-ConfitureFdw with -SourceSchema for that schema.");
        }

        var info = await TableCatalog.FindAsync(connection, settings.ForeignSchema, table, cancellationToken).ConfigureAwait(false);
        return info?.Columns ?? throw new ConfitureException(ConfitureErrorKind.TableNotFound,
            $"No foreign table \"{settings.ForeignSchema}\".\"{table}\" on the target: \"{table}\" was not imported from the source.",
            table, "Check the name (it is case-sensitive), or run Enable-ConfitureFdw again (with this table in -Table).");
    }

    /// <summary>
    /// Empties or checks the target, inside the caller's transaction. Deferred indexes go first: the
    /// foreign keys dropped with them would otherwise forbid the TRUNCATE.
    /// </summary>
    /// <param name="connection">The target connection, in the load's transaction.</param>
    /// <param name="plan">The plan.</param>
    /// <param name="cancellationToken">Stops the work.</param>
    /// <param name="runLock">False when another connection of the same run already holds the table's run lock.</param>
    internal async Task PrepareTargetAsync(NpgsqlConnection connection, MigrationPlan plan, CancellationToken cancellationToken, bool runLock = true)
    {
        // Taken up front in the strongest mode the load needs, so it never upgrades a lock midway;
        // the SHARE ROW EXCLUSIVE of a load into an empty table keeps it empty to the commit.
        var mode = plan.Request.Truncate || plan.Deferred is { IsEmpty: false } ? "ACCESS EXCLUSIVE"
            : plan.Request.Append ? "ROW EXCLUSIVE" : "SHARE ROW EXCLUSIVE";
        await TableLock.AcquireAsync(connection, target, plan.TargetOid, plan.QualifiedTarget, runLock, mode, plan.Request.LockTimeout, observer, cancellationToken).ConfigureAwait(false);
        await RowSecurity.EnsureNotFilteredAsync(connection, plan.TargetOid, plan.QualifiedTarget, "target", target, cancellationToken).ConfigureAwait(false);
        await RunAllAsync(connection, plan.Deferred?.Drops ?? [], cancellationToken).ConfigureAwait(false);
        if (plan.Request.Truncate)
        {
            await SqlExecutor.ExecuteAsync(connection, plan.Truncate, observer, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (plan.Request.Append)
        {
            return;
        }

        var hasRows = await SqlExecutor.ScalarAsync<bool>(connection, plan.EmptyCheck.Text, cancellationToken).ConfigureAwait(false);
        if (hasRows)
        {
            throw new ConfitureException(ConfitureErrorKind.TargetNotEmpty,
                $"Target table {plan.QualifiedTarget} already holds rows.", plan.TargetTable,
                "Use -Truncate to replace its rows (in the same transaction), or -Append to add to them.");
        }
    }

    private async Task<long> CopyAsync(NpgsqlConnection targetConnection, MigrationPlan plan, Stopwatch clock, string? runSnapshot, CancellationToken cancellationToken)
    {
        await using var sourceConnection = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var snapshot = await ReadSnapshot.BeginAsync(sourceConnection, observer, cancellationToken, runSnapshot).ConfigureAwait(false);
        return await CopyPartAsync(sourceConnection, targetConnection, plan, plan.ExportSql(), plan.ImportSql(freeze: plan.LoadsFrozen),
            done => observer.Progress(new MigrationProgress(plan.Request.SourceTable, done, plan.Request.ExpectedRows, clock.Elapsed)),
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One COPY from an open source transaction into an open target transaction.</summary>
    internal async Task<long> CopyPartAsync(
        NpgsqlConnection sourceConnection, NpgsqlConnection targetConnection, MigrationPlan plan, string exportSql, string importSql,
        Action<long> report, CancellationToken cancellationToken)
    {
        // Casts on the source run under the target's settings, and text crosses under the same on both sides.
        await plan.Settings.ApplyAsync(sourceConnection, observer, cancellationToken).ConfigureAwait(false);
        await plan.Settings.ApplyAsync(targetConnection, observer, cancellationToken).ConfigureAwait(false);
        var storedBefore = await TargetRowCount.InsertedInTransactionAsync(targetConnection, plan.TargetOid, cancellationToken).ConfigureAwait(false);

        var started = Stopwatch.GetTimestamp();
        var counter = new CopyRowCounter(plan.Binary);
        void Report(long done, TimeSpan _) => report(done);
        long sent;
        try
        {
            sent = plan.Binary
                ? await RelayBinaryAsync(sourceConnection, targetConnection, exportSql, importSql, counter, Report, cancellationToken).ConfigureAwait(false)
                : await RelayTextAsync(sourceConnection, targetConnection, exportSql, importSql, counter, Report, cancellationToken).ConfigureAwait(false);
        }
        catch (NpgsqlException ex) when (ServerTag.MarkBroken(ex, sourceConnection, targetConnection))
        {
            throw;
        }

        observer.Statement(exportSql, Stopwatch.GetElapsedTime(started));
        observer.Statement(importSql, Stopwatch.GetElapsedTime(started));

        // The rows the target stored, not the rows the stream carried: a trigger may have skipped some.
        var stored = await TargetRowCount.InsertedInTransactionAsync(targetConnection, plan.TargetOid, cancellationToken).ConfigureAwait(false) - storedBefore;
        if (stored != sent)
        {
            observer.Warning($"{sent} rows of \"{plan.Request.SourceTable}\" were sent and {stored} stored in {plan.QualifiedTarget}: a trigger or rule on the target table skipped or added rows.");
        }

        report(stored);
        return stored;
    }

    internal static Task<long> RelayBinaryAsync(
        NpgsqlConnection sourceConnection, NpgsqlConnection targetConnection, string exportSql, string importSql,
        CopyRowCounter counter, Action<long, TimeSpan> report, CancellationToken cancellationToken) =>
        RelayAsync(
            () => sourceConnection.BeginRawBinaryCopyAsync(exportSql, cancellationToken),
            () => targetConnection.BeginRawBinaryCopyAsync(importSql, cancellationToken),
            (export, import) => CopyRelay.RunAsync(export, import, counter, report, cancellationToken),
            export => export.CancelAsync(),
            import => import.CancelAsync());

    private static Task<long> RelayTextAsync(
        NpgsqlConnection sourceConnection, NpgsqlConnection targetConnection, string exportSql, string importSql,
        CopyRowCounter counter, Action<long, TimeSpan> report, CancellationToken cancellationToken) =>
        RelayAsync(
            () => sourceConnection.BeginTextExportAsync(exportSql, cancellationToken),
            () => targetConnection.BeginTextImportAsync(importSql, cancellationToken),
            (export, import) => CopyRelay.RunTextAsync(export, import, counter, report, cancellationToken),
            export => export.CancelAsync(),
            import => import.CancelAsync());

    /// <summary>
    /// Opens both ends of a COPY, relays, and completes both; on any failure it tells the target the
    /// COPY failed (it rolls back with the transaction) and stops the export.
    /// </summary>
    private static async Task<long> RelayAsync<TExport, TImport>(
        Func<Task<TExport>> beginExport, Func<Task<TImport>> beginImport, Func<TExport, TImport, Task<long>> relay,
        Func<TExport, Task> cancelExport, Func<TImport, Task> cancelImport)
        where TExport : class, IAsyncDisposable
        where TImport : class, IAsyncDisposable
    {
        var export = await beginExport().ConfigureAwait(false);
        TImport? import = null;
        try
        {
            import = await beginImport().ConfigureAwait(false);
            var rows = await relay(export, import).ConfigureAwait(false);
            await export.DisposeAsync().ConfigureAwait(false);
            await import.DisposeAsync().ConfigureAwait(false);
            return rows;
        }
        catch
        {
            await QuietlyAsync(import is null ? null : () => cancelImport(import)).ConfigureAwait(false);
            await QuietlyAsync(() => cancelExport(export)).ConfigureAwait(false);
            throw;
        }
    }

    internal async Task MoveSequencesAsync(NpgsqlConnection connection, MigrationPlan plan, CancellationToken cancellationToken)
    {
        foreach (var link in plan.Sequences)
        {
            await SequenceLinks.MoveAsync(connection, plan.QualifiedTarget, link, observer, cancellationToken).ConfigureAwait(false);
        }
    }

    internal static async Task QuietlyAsync(Func<Task>? action)
    {
        if (action is null)
        {
            return;
        }

        try
        {
            await action().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or ObjectDisposedException or IOException or OperationCanceledException
                                       or NullReferenceException)
        {
            // The original failure is the one worth reporting. (Npgsql's cancel of a raw COPY whose
            // backend was terminated can throw a NullReferenceException from its cleanup; it would
            // otherwise replace the real error.)
        }
    }

    private ConfitureException Failed(NpgsqlException ex, string sourceTable, string targetTable, ParallelCopy? parallel) =>
        new ErrorTranslator(source, target).Translate(ex, $"migrating \"{sourceTable}\" into \"{targetTable}\"", sourceTable,
            ConfitureErrorKind.MigrationFailed, Aftermath(parallel))!;

    /// <summary>What the failure left on the target, as the engine knows it (a parallel run's cleanup may itself have failed).</summary>
    private static string Aftermath(ParallelCopy? parallel) => parallel switch
    {
        { Aftermath: { } known } => known,
        { PartsStarted: true } => "The parts already written were removed: the target table is empty.",
        _ => "The target was rolled back; no row was written.",
    };

    /// <summary>Puts back what an interrupted -DeferIndexes load or run left dropped, before this call looks at any table.</summary>
    internal async Task RestoreFromJournalAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        try
        {
            await DeferredJournal.RestoreFromJournalAsync(connection, observer, cancellationToken).ConfigureAwait(false);
            await Run.RunKeys.RestoreAbandonedAsync(connection, observer, cancellationToken).ConfigureAwait(false);
        }
        catch (NpgsqlException ex) when (ex is PostgresException || !cancellationToken.IsCancellationRequested)
        {
            throw new ErrorTranslator(source, target).Translate(ex, "restoring the definitions an interrupted -DeferIndexes load dropped", null,
                ConfitureErrorKind.RestoreFailed, likelySide: target)!;
        }
    }
}
