using Confiture.Core.Connections;
using Confiture.Core.Errors;
using Confiture.Core.Fdw;
using Confiture.Core.Migration;
using Confiture.Core.Planning;
using Confiture.Core.Verification;

namespace Confiture.Core;

/// <summary>
/// Moves tables from a source database (old schema) to a target database (new schema): sets up
/// postgres_fdw on the target, migrates each table, verifies, and cleans up.
/// </summary>
/// <remarks>Every method is safe to call again; none changes the target halfway.</remarks>
public sealed class SchemaToSchemaMigrator
{
    /// <summary>Creates a migrator between two databases.</summary>
    public SchemaToSchemaMigrator(DatabaseEndpoint source, DatabaseEndpoint target, FdwSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        Source = source;
        Target = target;
        Settings = settings ?? new FdwSettings();
        Settings.Validate();
    }

    /// <summary>The old database.</summary>
    public DatabaseEndpoint Source { get; }

    /// <summary>The new database.</summary>
    public DatabaseEndpoint Target { get; }

    /// <summary>How the target reaches the source.</summary>
    public FdwSettings Settings { get; }

    /// <summary>Returns the statements <see cref="SetupFdwAsync"/> would run; changes nothing.</summary>
    public Task<FdwPlan> PlanSetupFdwAsync(IOperationObserver? observer = null, CancellationToken cancellationToken = default) =>
        new FdwSetup(Source, Target, Settings, observer ?? NullObserver.Instance).PlanAsync(cancellationToken);

    /// <summary>
    /// Creates (or takes over) postgres_fdw, the server, the user mapping and the foreign tables on
    /// the target, in one transaction. See https://www.postgresql.org/docs/current/postgres-fdw.html.
    /// </summary>
    public async Task<FdwPlan> SetupFdwAsync(IOperationObserver? observer = null, CancellationToken cancellationToken = default)
    {
        await RepairAsync(observer, cancellationToken).ConfigureAwait(false);
        return await new FdwSetup(Source, Target, Settings, observer ?? NullObserver.Instance).ApplyAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Checks that the source can stream its changes, then sets up postgres_fdw as
    /// <see cref="SetupFdwAsync"/> does, then the change stream on the source: a publication of the
    /// session's tables and a pgoutput slot whose exported snapshot this session's migrations read.
    /// A slot this session's server left earlier, with its position on the target, is taken over.
    /// See https://www.postgresql.org/docs/current/logical-replication.html.
    /// </summary>
    public async Task<FdwPlan> SetupChangeStreamAsync(IOperationObserver? observer = null, CancellationToken cancellationToken = default)
    {
        var setup = new Stream.ChangeStreamSetup(Source, Target, Settings, observer ?? NullObserver.Instance);
        var decision = await setup.PrepareAsync(cancellationToken).ConfigureAwait(false);
        var plan = await SetupFdwAsync(observer, cancellationToken).ConfigureAwait(false);
        var session = await setup.ApplyAsync(decision, cancellationToken).ConfigureAwait(false);
        var previous = Interlocked.Exchange(ref _stream, session);
        if (previous is not null)
        {
            await previous.DisposeAsync().ConfigureAwait(false);
        }

        return plan;
    }

    /// <summary>What <see cref="SetupChangeStreamAsync"/> would do on the source, after checking its preconditions; changes nothing.</summary>
    public async Task<IReadOnlyList<string>> PlanChangeStreamAsync(IOperationObserver? observer = null, CancellationToken cancellationToken = default)
    {
        var decision = await new Stream.ChangeStreamSetup(Source, Target, Settings, observer ?? NullObserver.Instance).PrepareAsync(cancellationToken).ConfigureAwait(false);
        return decision.Describe(Settings.SourceSchema);
    }

    /// <summary>Whether this process set up (or took over) a change stream for the session.</summary>
    public bool HasChangeStream => _stream is not null;

    /// <summary>
    /// Applies the session's change stream to the target through each table's recorded map: by
    /// default what the source had committed when the call began, else as long as
    /// <paramref name="options"/> say. Exactly once across kills and processes (the position is
    /// stored with the changes). The first call ends the snapshot the migrations read.
    /// </summary>
    public async Task<Stream.ChangeStreamStatus> SyncChangeStreamAsync(
        Stream.ChangeStreamOptions? options = null, IOperationObserver? observer = null, Action<Stream.ChangeStreamStatus>? progress = null,
        CancellationToken cancellationToken = default)
    {
        if (_stream is { } stream)
        {
            await stream.ReleaseSnapshotAsync("Sync-ConfitureMigration began applying the stream").ConfigureAwait(false);
        }

        await RepairAsync(observer, cancellationToken).ConfigureAwait(false);
        try
        {
            return await new Stream.ChangeStreamApplier(Source, Target, Settings, observer ?? NullObserver.Instance)
                .RunAsync(options ?? new Stream.ChangeStreamOptions(), progress, cancellationToken).ConfigureAwait(false);
        }
        catch (Npgsql.NpgsqlException ex) when (ex is Npgsql.PostgresException || !cancellationToken.IsCancellationRequested)
        {
            throw new ErrorTranslator(Source, Target).Translate(ex, "applying the change stream", Settings.ServerName)!;
        }
    }

    /// <summary>
    /// Where the session's change stream stands (slot, applied and current LSN, lag, WAL the slot
    /// keeps), or null when the session has none: what a cutover gate checks.
    /// </summary>
    public async Task<Stream.ChangeStreamState?> ChangeStreamStateAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await Target.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await Stream.ChangeStreamStates.ReadAsync(Source, connection, Settings.ServerName, _stream?.Snapshot is not null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The snapshot a run of this session must read: the change stream's, when the session has one.
    /// A stream whose snapshot is gone refuses the run: a table copied at another moment would miss
    /// the changes in between, or get them twice.
    /// </summary>
    private async Task<string?> StreamSnapshotAsync(Run.RunPlan plan, IOperationObserver? observer, CancellationToken cancellationToken)
    {
        var stream = _stream;
        var tables = string.Join(", ", plan.Order.SelectMany(g => g).Select(t => $"\"{t}\""));
        if (stream is null)
        {
            await using var connection = await Target.OpenAsync(cancellationToken).ConfigureAwait(false);
            if (await Stream.StreamPosition.ReadAsync(connection, Settings.ServerName, cancellationToken).ConfigureAwait(false) is null)
            {
                return null;
            }

            await WarnOfRetainedWalAsync(connection, observer, cancellationToken).ConfigureAwait(false);

            throw SnapshotGone(tables, "this process did not set the stream up (Enable-ConfitureFdw -ChangeStream in another process, or in an earlier session)");
        }

        var notCopy = plan.Groups.SelectMany(g => g.Plans).Where(p => p.Strategy != MigrationStrategy.Copy || p.Request.Parallel > 1).Select(p => p.Request.SourceTable).ToList();
        if (notCopy.Count > 0)
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument,
                $"{string.Join(", ", notCopy.Select(t => $"\"{t}\""))}: a change stream's tables are read in the slot's snapshot, which only -Strategy Copy without -Parallel can read.",
                notCopy[0], "Migrate them with -Strategy Copy (and without -Parallel).");
        }

        return await stream.LiveSnapshotAsync(cancellationToken).ConfigureAwait(false)
            ?? throw SnapshotGone(tables, stream.GoneReason);
    }

    private static ConfitureException SnapshotGone(string tables, string why) => new(ConfitureErrorKind.ChangeStreamSnapshotGone,
        $"{tables} cannot be migrated in this change stream session: the slot's snapshot, which every table must be read in, is no longer available ({why}). Copied now, the table would miss the changes in between or get them twice.",
        tables.Trim('"'), "Migrate every table right after Enable-ConfitureFdw -ChangeStream, before the first Sync-ConfitureMigration; to start over, run Remove-ConfitureFdw and set the session up again.");

    /// <summary>Returns the statements <see cref="CleanupFdwAsync"/> would run; changes nothing.</summary>
    public Task<FdwPlan> PlanCleanupFdwAsync(IOperationObserver? observer = null, CancellationToken cancellationToken = default) =>
        new FdwCleanup(Source, Target, Settings, observer ?? NullObserver.Instance).PlanAsync(cancellationToken);

    /// <summary>Drops what setup created, in one transaction; a second call finds nothing to do.</summary>
    /// <param name="observer">Hears the statements and warnings.</param>
    /// <param name="keepRecord">Keeps the maps and sync marks of this session's tables in the target's record.</param>
    /// <param name="cancellationToken">Stops the work.</param>
    public async Task<FdwPlan> CleanupFdwAsync(IOperationObserver? observer = null, bool keepRecord = false, CancellationToken cancellationToken = default)
    {
        // Definitions to restore are restored first: cleanup never drops a record that still lists some.
        await RepairAsync(observer, cancellationToken).ConfigureAwait(false);
        if (_stream is { } stream)
        {
            await stream.ReleaseSnapshotAsync("the session was removed").ConfigureAwait(false);
        }

        var plan = await new FdwCleanup(Source, Target, Settings, observer ?? NullObserver.Instance) { KeepRecord = keepRecord }.ApplyAsync(cancellationToken).ConfigureAwait(false);
        Interlocked.Exchange(ref _stream, null);
        return plan;
    }

    /// <summary>
    /// Every call on a target first puts back what an interrupted -DeferIndexes load left dropped
    /// (the journal in the target's record says what), and says so.
    /// </summary>
    private async Task RepairAsync(IOperationObserver? observer, CancellationToken cancellationToken)
    {
        await using var connection = await Target.OpenAsync(cancellationToken).ConfigureAwait(false);
        await Migrator(observer).RestoreFromJournalAsync(connection, cancellationToken).ConfigureAwait(false);
        await WarnOfRetainedWalAsync(connection, observer, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A slot far behind keeps WAL until the source's disk fills: every call of the session says so.</summary>
    private async Task WarnOfRetainedWalAsync(Npgsql.NpgsqlConnection connection, IOperationObserver? observer, CancellationToken cancellationToken)
    {
        if (observer is null || await Stream.StreamPosition.ReadAsync(connection, Settings.ServerName, cancellationToken).ConfigureAwait(false) is null)
        {
            return;
        }

        var state = await Stream.ChangeStreamStates.ReadAsync(Source, connection, Settings.ServerName, _stream?.Snapshot is not null, cancellationToken).ConfigureAwait(false);
        if (Stream.ChangeStreamStates.Warning(state) is { } warning)
        {
            observer.Warning(warning);
        }
    }

    /// <summary>
    /// Moves a table with <c>INSERT ... SELECT</c> through its foreign table, in one target transaction.
    /// Returns the rows inserted.
    /// </summary>
    public Task<TableMigrationResult> MigrateTableAsync(TableMigrationRequest request, IOperationObserver? observer = null, CancellationToken cancellationToken = default) =>
        MigrateAsync(request, MigrationStrategy.Fdw, observer, cancellationToken);

    /// <summary>
    /// Moves a table as a COPY stream from the source connection into the target connection, in one
    /// target transaction and one source snapshot, in constant memory. Returns the rows copied.
    /// See https://www.postgresql.org/docs/current/sql-copy.html.
    /// </summary>
    public Task<TableMigrationResult> MigrateTableCopyAsync(TableMigrationRequest request, IOperationObserver? observer = null, CancellationToken cancellationToken = default) =>
        MigrateAsync(request, MigrationStrategy.Copy, observer, cancellationToken);

    /// <summary>Moves a table with the given strategy.</summary>
    public Task<TableMigrationResult> MigrateAsync(TableMigrationRequest request, MigrationStrategy strategy, IOperationObserver? observer = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _stream is null ? Migrator(observer).MigrateAsync(request, strategy, cancellationToken) : MigrateInStreamAsync(request, strategy, observer, cancellationToken);
    }

    /// <summary>A table of a change stream session goes through a run, which reads the stream's snapshot.</summary>
    private async Task<TableMigrationResult> MigrateInStreamAsync(TableMigrationRequest request, MigrationStrategy strategy, IOperationObserver? observer, CancellationToken cancellationToken)
    {
        var plan = await PlanRunAsync([new Run.RunTable(request, strategy)], observer, cancellationToken).ConfigureAwait(false);
        if (plan.Failures.Count > 0)
        {
            throw plan.Failures[0].Error;
        }

        await using var run = await StartRunAsync(plan, observer, cancellationToken).ConfigureAwait(false);
        return (await run.MigrateGroupAsync(0, observer, cancellationToken).ConfigureAwait(false))[0];
    }

    /// <summary>
    /// Brings an already migrated target table up to date with the source, through the same mapping,
    /// in one target transaction: by default by replacing the key ranges whose digests differ; with
    /// <paramref name="changedSince"/> (a mapped column such as updated_at) by upserting the rows
    /// changed since the target's newest value and deleting the rows the source no longer has.
    /// </summary>
    public Task<TableMigrationResult> SyncTableAsync(TableMigrationRequest request, string? changedSince = null, IOperationObserver? observer = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return SyncAsync(request, changedSince, observer, cancellationToken);
    }

    private async Task<TableMigrationResult> SyncAsync(TableMigrationRequest request, string? changedSince, IOperationObserver? observer, CancellationToken cancellationToken)
    {
        await RepairAsync(observer, cancellationToken).ConfigureAwait(false);
        return await new TableSync(Source, Target, Migrator(observer), observer ?? NullObserver.Instance).SyncAsync(request, changedSince, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Returns the statements a migration would run, worked out from the catalogs; writes nothing.</summary>
    public async Task<IReadOnlyList<string>> PlanMigrationAsync(TableMigrationRequest request, MigrationStrategy strategy, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var plan = await new TableMigrator(Source, Target, Settings, NullObserver.Instance).PlanAsync(request, strategy, cancellationToken).ConfigureAwait(false);
        return plan.Describe(Settings.ForeignSchema);
    }

    /// <summary>
    /// Sizes each table of a source schema (the session's when null), times a sample of it through
    /// each path into a rolled-back copy of its target table (by <paramref name="map"/>), and picks
    /// the faster strategy. Writes nothing on either server.
    /// </summary>
    public async Task<IReadOnlyList<TableStrategy>> AnalyzeTablesAsync(
        string? schema = null, IReadOnlyList<string>? tables = null, StrategyOptions? options = null, MigrationMap? map = null, CancellationToken cancellationToken = default)
    {
        var sourceSchema = schema ?? Settings.SourceSchema;
        try
        {
            // Only tables imported as foreign tables can go through postgres_fdw; the rest are copied.
            var imported = sourceSchema == Settings.SourceSchema
                ? await TargetCatalog.ForeignTableNamesAsync(Target, Settings.ForeignSchema, cancellationToken).ConfigureAwait(false)
                : new HashSet<string>(StringComparer.Ordinal);
            return await StrategyPlanner.AnalyzeAsync(Source, Target, Settings, sourceSchema, tables, options ?? new StrategyOptions(), imported, map, cancellationToken).ConfigureAwait(false);
        }
        catch (Npgsql.NpgsqlException ex) when (ex is Npgsql.PostgresException || !cancellationToken.IsCancellationRequested)
        {
            throw new ErrorTranslator(Source, Target).Translate(ex, $"sizing the tables of schema \"{sourceSchema}\"", sourceSchema)!;
        }
    }

    /// <summary>
    /// The names among <paramref name="names"/> that are tables of the source schema (the
    /// session's when null), in the order given: views, materialized views, foreign tables and
    /// partitions are left out, as every list of "all the tables" must.
    /// </summary>
    public async Task<IReadOnlyList<string>> TablesAmongAsync(IReadOnlyList<string> names, string? schema = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(names);
        await using var connection = await Source.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await SourceTables.OnlyTablesAsync(connection, schema ?? Settings.SourceSchema, names, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Counts a table on the source and on the target (which may have another name).</summary>
    public Task<TableVerification> VerifyMigrationAsync(
        string sourceTable, string? targetTable = null, string? sourceSchema = null, string targetSchema = "public", CancellationToken cancellationToken = default) =>
        VerifyMigrationAsync(new VerificationRequest { SourceTable = sourceTable, TargetTable = targetTable, SourceSchema = sourceSchema, TargetSchema = targetSchema }, cancellationToken);

    /// <summary>
    /// Compares a table on both servers: row counts, and when asked a digest of every row's mapped
    /// values and the keys of the rows that differ.
    /// </summary>
    public Task<TableVerification> VerifyMigrationAsync(VerificationRequest request, CancellationToken cancellationToken = default) =>
        VerifyMigrationAsync(request, null, cancellationToken);

    /// <summary>
    /// Compares a table on both servers, telling <paramref name="observer"/> what it ran and warns of;
    /// a checksum comparison is recorded on the target (confiture.verification) for the cutover gate.
    /// </summary>
    public async Task<TableVerification> VerifyMigrationAsync(VerificationRequest request, IOperationObserver? observer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        _maps.TryGetValue((request.TargetSchema, request.EffectiveTargetTable), out var sessionMap);
        await RepairAsync(observer, cancellationToken).ConfigureAwait(false);
        try
        {
            return await TableVerifier.VerifyAsync(Source, Target, Settings.SourceSchema, Settings.ServerName, request, sessionMap,
                observer ?? NullObserver.Instance, cancellationToken).ConfigureAwait(false);
        }
        catch (Npgsql.NpgsqlException ex) when (ex is Npgsql.PostgresException || !cancellationToken.IsCancellationRequested)
        {
            throw new ErrorTranslator(Source, Target).Translate(ex,
                $"verifying \"{request.SourceTable}\" against \"{request.EffectiveTargetTable}\"", request.SourceTable)!;
        }
    }

    /// <summary>
    /// The cutover gate: whether every table the session migrated is verified by checksum since its
    /// last change on either server, its sequences are ahead, its indexes and constraints valid,
    /// its statistics present and no deferred definition pending, and the change stream (when the
    /// session has one) caught up. Reads only, on both servers; repairs nothing.
    /// </summary>
    public async Task<Readiness.CutoverReadiness> TestCutoverAsync(Readiness.CutoverRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        try
        {
            return await new Readiness.CutoverGate(Source, Target, Settings).TestAsync(request, _maps.Values.ToList(), cancellationToken).ConfigureAwait(false);
        }
        catch (Npgsql.NpgsqlException ex) when (ex is Npgsql.PostgresException || !cancellationToken.IsCancellationRequested)
        {
            throw new ErrorTranslator(Source, Target).Translate(ex, "testing the cutover readiness", Settings.ServerName)!;
        }
    }

    /// <summary>
    /// Plans a run over many tables, once, before anything is written: each table's plan, parents
    /// before children by the target's foreign keys (a key cycle loads in one transaction), and,
    /// with Truncate on several tables, one TRUNCATE of them all.
    /// </summary>
    public Task<Run.RunPlan> PlanRunAsync(IReadOnlyList<Run.RunTable> tables, IOperationObserver? observer = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tables);
        return Run.RunPlanner.PlanAsync(Target, Migrator(observer), Settings.ForeignSchema, tables, cancellationToken);
    }

    /// <summary>Starts a planned run: exports the one source snapshot every table will read, and empties the tables together when planned.</summary>
    public Task<Run.MigrationRun> StartRunAsync(Run.RunPlan plan, IOperationObserver? observer = null, CancellationToken cancellationToken = default) =>
        StartRunAsync(plan, new Run.RunOptions(), observer, cancellationToken);

    /// <summary>
    /// Starts a planned run with options: how many groups load at once, and whether it resumes the
    /// latest unfinished run of this session over the same tables (whose committed tables it checks
    /// and skips). A run of several tables is recorded in the target's ledger (see <see cref="RunsAsync"/>).
    /// </summary>
    public async Task<Run.MigrationRun> StartRunAsync(Run.RunPlan plan, Run.RunOptions options, IOperationObserver? observer = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(options);
        var streamSnapshot = await StreamSnapshotAsync(plan, observer, cancellationToken).ConfigureAwait(false);
        return await Run.MigrationRun.StartAsync(plan, Source, Target, Migrator, Settings.ServerName, options, observer ?? NullObserver.Instance, cancellationToken,
            streamSnapshot, _stream?.SnapshotTakenAt).ConfigureAwait(false);
    }

    /// <summary>
    /// The runs of this session the target's ledger records (every session's with <paramref name="allSessions"/>),
    /// newest first, each with the tables it committed; a run recorded as running whose process is gone reads as failed.
    /// </summary>
    public async Task<IReadOnlyList<Record.RunRecord>> RunsAsync(bool allSessions = false, CancellationToken cancellationToken = default)
    {
        await using var connection = await Target.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await Record.RunLedger.ListAsync(connection, allSessions ? null : Settings.ServerName, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The map each target table was migrated with in this session, by target schema and table.</summary>
    public IReadOnlyDictionary<(string Schema, string Table), MigratedMap> Maps => _maps;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Schema, string Table), MigratedMap> _maps = new();

    private Stream.ChangeStreamSession? _stream;

    private TableMigrator Migrator(IOperationObserver? observer) =>
        new(Source, Target, Settings, observer ?? NullObserver.Instance) { Migrated = map => _maps[(map.TargetSchema, map.TargetTable)] = map };
}
