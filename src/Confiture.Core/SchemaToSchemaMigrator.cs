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
        return await new FdwCleanup(Source, Target, Settings, observer ?? NullObserver.Instance) { KeepRecord = keepRecord }.ApplyAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Every call on a target first puts back what an interrupted -DeferIndexes load left dropped
    /// (the journal in the target's record says what), and says so.
    /// </summary>
    private async Task RepairAsync(IOperationObserver? observer, CancellationToken cancellationToken)
    {
        await using var connection = await Target.OpenAsync(cancellationToken).ConfigureAwait(false);
        await Migrator(observer).RestoreFromJournalAsync(connection, cancellationToken).ConfigureAwait(false);
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
        return Migrator(observer).MigrateAsync(request, strategy, cancellationToken);
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
    public async Task<TableVerification> VerifyMigrationAsync(VerificationRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        _maps.TryGetValue((request.TargetSchema, request.EffectiveTargetTable), out var sessionMap);
        await RepairAsync(null, cancellationToken).ConfigureAwait(false);
        try
        {
            return await TableVerifier.VerifyAsync(Source, Target, Settings.SourceSchema, request, sessionMap, cancellationToken).ConfigureAwait(false);
        }
        catch (Npgsql.NpgsqlException ex) when (ex is Npgsql.PostgresException || !cancellationToken.IsCancellationRequested)
        {
            throw new ErrorTranslator(Source, Target).Translate(ex,
                $"verifying \"{request.SourceTable}\" against \"{request.EffectiveTargetTable}\"", request.SourceTable)!;
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
    public Task<Run.MigrationRun> StartRunAsync(Run.RunPlan plan, IOperationObserver? observer = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return Run.MigrationRun.StartAsync(plan, Source, Target, Migrator, observer ?? NullObserver.Instance, cancellationToken);
    }

    /// <summary>The map each target table was migrated with in this session, by target schema and table.</summary>
    public IReadOnlyDictionary<(string Schema, string Table), MigratedMap> Maps => _maps;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Schema, string Table), MigratedMap> _maps = new();

    private TableMigrator Migrator(IOperationObserver? observer) =>
        new(Source, Target, Settings, observer ?? NullObserver.Instance) { Migrated = map => _maps[(map.TargetSchema, map.TargetTable)] = map };
}
