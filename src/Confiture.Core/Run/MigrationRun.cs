using System.Collections.Concurrent;
using Confiture.Core.Connections;
using Confiture.Core.Migration;
using Confiture.Core.Record;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Run;

/// <summary>
/// A run under way: one exported source snapshot held open while its groups load, one target
/// transaction each (up to <see cref="RunOptions.ThrottleLimit"/> at once, never a group before the
/// groups it references have committed), so the target becomes one consistent cut of the source even
/// while the application writes. A run of several tables keeps a ledger on the target
/// (<c>confiture.run</c>, <c>confiture.run_table</c>) that <see cref="RunOptions.Resume"/> continues
/// from. Disposing it records how it ended and releases the snapshot.
/// </summary>
public sealed class MigrationRun : IAsyncDisposable
{
    private readonly DatabaseEndpoint _target;
    private readonly Func<IOperationObserver, TableMigrator> _migrator;
    private readonly NpgsqlConnection? _snapshotConnection;
    private readonly NpgsqlTransaction? _snapshotTransaction;
    private readonly string? _snapshot;
    private readonly ConcurrentDictionary<int, bool> _outcomes = new();
    private NpgsqlConnection? _ledgerConnection;
    private IReadOnlyDictionary<int, IReadOnlyList<TableMigrationResult>> _skipped = new Dictionary<int, IReadOnlyList<TableMigrationResult>>();
    private Dictionary<string, long> _bytes = [];

    // The deferred keys a group's transaction added back NOT VALID, waiting to be validated once it has committed.
    private readonly ConcurrentQueue<ForeignKeyGraph.Key> _addedKeys = new();
    private volatile bool _cancelled;

    private MigrationRun(RunPlan plan, DatabaseEndpoint target, Func<IOperationObserver, TableMigrator> migrator,
        NpgsqlConnection? connection, NpgsqlTransaction? transaction, string? snapshot, DateTimeOffset? takenAt)
    {
        Plan = plan;
        _target = target;
        _migrator = migrator;
        _snapshotConnection = connection;
        _snapshotTransaction = transaction;
        _snapshot = snapshot;
        SnapshotTakenAt = takenAt;
    }

    /// <summary>The group number of an outcome about the run's deferred keys, reported after every group's own.</summary>
    public const int KeysGroup = -1;

    /// <summary>What the run executes.</summary>
    public RunPlan Plan { get; }

    /// <summary>When the source snapshot every table reads was taken (source clock); null for a table alone.</summary>
    public DateTimeOffset? SnapshotTakenAt { get; }

    /// <summary>The run's id in the target's ledger; null for a table alone, or when this role may not keep the ledger.</summary>
    public Guid? RunId { get; private set; }

    /// <summary>For a resumed run: the run as the ledger had it when this call took it over.</summary>
    public RunRecord? Resumed { get; private set; }

    /// <summary>The source tables a resumed run skipped, because the run it continues committed them.</summary>
    public IReadOnlyList<string> SkippedTables => _skipped.Values.SelectMany(r => r).Select(r => r.SourceTable).ToList();

    /// <summary>The source's estimate of each table's rows (pg_class.reltuples), by source table, for progress when no count was given.</summary>
    public IReadOnlyDictionary<string, long> RowEstimates { get; private set; } = new Dictionary<string, long>();

    internal static async Task<MigrationRun> StartAsync(
        RunPlan plan, DatabaseEndpoint source, DatabaseEndpoint target, Func<IOperationObserver, TableMigrator> migrator, string serverName,
        RunOptions options, IOperationObserver observer, CancellationToken cancellationToken, string? streamSnapshot = null, DateTimeOffset? streamSnapshotAt = null)
    {
        options.Validate();
        if (plan.Groups.Count == 1 && plan.Groups[0].Plans.Count == 1)
        {
            if (options.Resume)
            {
                throw new ConfitureException(ConfitureErrorKind.ResumeNotPossible,
                    $"-Resume continues a run of several tables; \"{plan.Groups[0].Plans[0].Request.SourceTable}\" alone loads in one transaction, so nothing of it is left to resume.",
                    plan.Groups[0].Plans[0].Request.SourceTable, "Name every table of the run to resume, or migrate this table again without -Resume.");
            }

            // A table alone reads a snapshot of its own, as it always has (and -Parallel shares its own);
            // in a change stream's session it reads the slot's, which the session holds open.
            return new MigrationRun(plan, target, migrator, null, null, streamSnapshot, streamSnapshotAt);
        }

        var connection = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
        MigrationRun? run = null;
        try
        {
            // In a change stream's session every table reads the slot's snapshot, so the stream starts
            // exactly where the copy ends; otherwise the run exports one of its own.
            var transaction = await ReadSnapshot.BeginAsync(connection, observer, cancellationToken, streamSnapshot).ConfigureAwait(false);
            var exported = await SqlExecutor.ListAsync(connection,
                "SELECT coalesce($1::text, pg_export_snapshot()), transaction_timestamp(), pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
                r => (Id: r.GetString(0), At: streamSnapshotAt ?? r.GetFieldValue<DateTimeOffset>(1), Xmin: r.GetInt64(2)), cancellationToken,
                streamSnapshot).ConfigureAwait(false);
            run = new MigrationRun(plan, target, migrator, connection, transaction, exported[0].Id, exported[0].At);
            var estimates = await EstimatesAsync(connection, plan, cancellationToken).ConfigureAwait(false);
            run.RowEstimates = estimates.Where(e => e.Value.Rows > 0).ToDictionary(e => e.Key, e => e.Value.Rows, StringComparer.Ordinal);
            run._bytes = estimates.ToDictionary(e => e.Key, e => e.Value.Bytes, StringComparer.Ordinal);
            await run.OpenLedgerAsync(serverName, options, exported[0].Xmin, observer, cancellationToken).ConfigureAwait(false);
            var committed = run._skipped.Keys.SelectMany(g => plan.Groups[g].Plans).Select(p => p.QualifiedTarget).ToHashSet(StringComparer.Ordinal);
            // On resume, only the tables still to load are emptied: what the earlier run committed stays.
            var truncate = plan.TruncateTogether.Where(t => !committed.Contains(t)).ToList();
            if (truncate.Count > 0 || plan.DeferredKeys.Count > 0)
            {
                await run.PrepareTablesAsync(truncate, observer, cancellationToken).ConfigureAwait(false);
            }

            return run;
        }
        catch
        {
            if (run is not null)
            {
                await run.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }

    /// <summary>The source's estimate of each table's rows and its size in bytes, partitions included.</summary>
    private static async Task<IReadOnlyDictionary<string, (long Rows, long Bytes)>> EstimatesAsync(NpgsqlConnection source, RunPlan plan, CancellationToken cancellationToken)
    {
        var tables = plan.Groups.SelectMany(g => g.Plans).ToList();
        var rows = await SqlExecutor.ListAsync(source,
            """
            SELECT t.name, greatest(coalesce(sum(greatest(c.reltuples, 0)), 0), 0)::bigint, coalesce(sum(pg_table_size(c.oid)), 0)::bigint
            FROM unnest($1::text[], $2::text[]) AS t(schema, name)
            LEFT JOIN pg_namespace n ON n.nspname = t.schema
            LEFT JOIN pg_class c ON c.relnamespace = n.oid AND (c.relname = t.name OR c.oid IN (
                SELECT i.inhrelid FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = t.name AND p.relnamespace = n.oid))
            GROUP BY t.name
            """,
            r => (Table: r.GetString(0), Rows: r.GetInt64(1), Bytes: r.GetInt64(2)), cancellationToken,
            tables.Select(p => p.SourceSchema).ToArray(), tables.Select(p => p.Request.SourceTable).ToArray()).ConfigureAwait(false);
        return rows.ToDictionary(r => r.Table, r => (r.Rows, r.Bytes), StringComparer.Ordinal);
    }

    /// <summary>Starts the run's ledger entry, or takes over the unfinished run it resumes and works out what that run committed.</summary>
    private async Task OpenLedgerAsync(string serverName, RunOptions options, long sourceXmin, IOperationObserver observer, CancellationToken cancellationToken)
    {
        var connection = await _target.OpenAsync(cancellationToken).ConfigureAwait(false);
        _ledgerConnection = connection;
        if (!await RunLedger.WritableAsync(connection, observer, cancellationToken).ConfigureAwait(false))
        {
            if (options.Resume)
            {
                throw new ConfitureException(ConfitureErrorKind.ResumeNotPossible,
                    $"-Resume reads the run ledger in schema {TargetRecord.Schema}, which {connection.UserName} may not read and write.",
                    null, $"Run as the role that started the run, or grant it SELECT, INSERT, UPDATE on {TargetRecord.Schema}.run and {TargetRecord.Schema}.run_table.");
            }

            return;
        }

        var tables = Plan.Groups.SelectMany(g => g.Plans).Select(p => p.QualifiedTarget).Order(StringComparer.Ordinal).ToList();
        if (!options.Resume)
        {
            var id = Guid.NewGuid();
            await RunLedger.StartAsync(connection, id, serverName, tables, SnapshotTakenAt, sourceXmin, observer, cancellationToken).ConfigureAwait(false);
            RunId = id;
            return;
        }

        var runs = await RunLedger.ListAsync(connection, serverName, cancellationToken).ConfigureAwait(false);
        // The latest run over these tables (or fewer: a table whose plan failed in it, a map to fix
        // say, joins it now) is the one to continue, and only if it did not complete: an older
        // unfinished run that a later one replaced is history, not work left.
        var latest = runs.FirstOrDefault(r => r.Tables.All(t => tables.Contains(t, StringComparer.Ordinal)));
        if (latest is not { Unfinished: true })
        {
            throw new ConfitureException(ConfitureErrorKind.ResumeNotPossible,
                $"No unfinished run of session {serverName} over these {tables.Count} tables is recorded on the target" +
                (latest is null ? "." : $": the latest, {latest.RunId}, completed at {latest.FinishedAt:u}."),
                serverName, latest is null
                    ? "Run the tables without -Resume (the run to resume must have been over these tables, or some of them, in this session)."
                    : "Nothing is left to resume; run the tables again without -Resume (with -Truncate to replace their rows).");
        }

        var resumed = latest;
        await RunLedger.TakeOverAsync(connection, resumed, tables, SnapshotTakenAt, observer, cancellationToken).ConfigureAwait(false);
        RunId = resumed.RunId;
        Resumed = resumed;
        _skipped = await CommittedGroupsAsync(resumed, serverName, cancellationToken).ConfigureAwait(false);
        if (_skipped.Count > 0 && resumed.SnapshotAt is { } first)
        {
            observer.Warning($"Resuming run {resumed.RunId}: {string.Join(", ", SkippedTables)} were committed from the source as of {first:u}; " +
                             $"the tables still to load read a new snapshot ({SnapshotTakenAt:u}), as the first one ended with its process. " +
                             "The target is one cut of the source only if the source did not change in between: add -Sync to bring the committed tables up to date afterwards.");
        }
    }

    /// <summary>
    /// The groups the resumed run committed, each table checked against its ledger row: the same map,
    /// and as many rows on the target as the run wrote. Anything else is refused before any write.
    /// </summary>
    private async Task<IReadOnlyDictionary<int, IReadOnlyList<TableMigrationResult>>> CommittedGroupsAsync(RunRecord resumed, string serverName, CancellationToken cancellationToken)
    {
        var skipped = new Dictionary<int, IReadOnlyList<TableMigrationResult>>();
        for (var group = 0; group < Plan.Groups.Count; group++)
        {
            var plans = Plan.Groups[group].Plans;
            var entries = plans.Select(p => resumed.Committed.FirstOrDefault(c => c.TargetSchema == p.Request.TargetSchema && c.TargetTable == p.TargetTable)).ToList();
            if (entries.All(e => e is null))
            {
                continue;
            }

            var results = new List<TableMigrationResult>();
            for (var i = 0; i < plans.Count; i++)
            {
                var plan = plans[i];
                var entry = entries[i] ?? throw new ConfitureException(ConfitureErrorKind.ResumeNotPossible,
                    $"The ledger of run {resumed.RunId} lists only part of the key cycle {string.Join(", ", plans.Select(p => p.QualifiedTarget))}, which commits in one transaction.",
                    plan.TargetTable, "Run these tables again without -Resume, with -Truncate.");
                var digest = RunLedger.Digest(MigratedMap.From(plan, serverName));
                if (digest != entry.MapDigest)
                {
                    throw new ConfitureException(ConfitureErrorKind.ResumeNotPossible,
                        $"{plan.QualifiedTarget} was committed by run {resumed.RunId} with another map than this call's (columns, defaults or exclusions differ): " +
                        "resuming would leave it migrated under a map the rest of the run does not use. Nothing was written.",
                        plan.TargetTable, "Resume with the map the run started with, or run the tables again without -Resume, with -Truncate.");
                }

                var rows = await SqlExecutor.ScalarAsync<long>(_ledgerConnection!, $"SELECT count(*) FROM {plan.QualifiedTarget}", cancellationToken).ConfigureAwait(false);
                if (rows != entry.RowsWritten)
                {
                    throw new ConfitureException(ConfitureErrorKind.ResumeNotPossible,
                        $"{plan.QualifiedTarget} holds {rows} rows, but run {resumed.RunId} committed {entry.RowsWritten} into it: it changed since. Nothing was written.",
                        plan.TargetTable, "Run the tables again without -Resume, with -Truncate.");
                }

                results.Add(new TableMigrationResult(plan.SourceSchema, plan.Request.SourceTable, plan.Request.TargetSchema, plan.TargetTable,
                    Enum.Parse<MigrationStrategy>(entry.Strategy), entry.RowsWritten, TimeSpan.Zero, plan.Columns.Select(c => c.Pair).ToList())
                {
                    SourceSnapshotAt = resumed.SnapshotAt,
                    Resumed = true,
                    RunId = resumed.RunId,
                });
            }

            skipped[group] = results;
        }

        return skipped;
    }

    /// <summary>Loads one group (in plan order) in its own target transaction and returns its tables' results; a group a resumed run committed returns its ledger's results.</summary>
    public async Task<IReadOnlyList<TableMigrationResult>> MigrateGroupAsync(int group, IOperationObserver? observer = null, CancellationToken cancellationToken = default)
    {
        var planned = Plan.Groups[group];
        if (_skipped.TryGetValue(group, out var committed))
        {
            _outcomes[group] = true;
            return committed;
        }

        try
        {
            await using var connection = await _target.OpenAsync(cancellationToken).ConfigureAwait(false);
            var added = new List<ForeignKeyGraph.Key>();
            var context = new RunContext(_snapshot, planned.CycleKeys)
            {
                RunId = RunId,
                BeforeCommit = Plan.DeferredKeys.Count == 0 ? null : async (c, token) =>
                    added.AddRange(await RunKeys.AddNotValidAsync(c, KeysReadyWith(planned), observer ?? NullObserver.Instance, token).ConfigureAwait(false)),
            };
            var results = await _migrator(observer ?? NullObserver.Instance).ExecuteAsync(connection, planned.Plans, context, cancellationToken).ConfigureAwait(false);
            _outcomes[group] = true;
            foreach (var key in added)
            {
                _addedKeys.Enqueue(key);
            }

            return results.Select(r => r with { SourceSnapshotAt = SnapshotTakenAt, RunId = RunId }).ToList();
        }
        catch (OperationCanceledException)
        {
            _cancelled = true;
            throw;
        }
        catch (ConfitureException ex) when (ex.Kind == ConfitureErrorKind.Cancelled)
        {
            _cancelled = true;
            throw;
        }
        catch
        {
            _outcomes[group] = false;
            throw;
        }
    }

    /// <summary>The deferred keys between a group's tables and tables already committed (by this run, or the run it resumes): its transaction can add them back.</summary>
    private List<ForeignKeyGraph.Key> KeysReadyWith(RunGroup group)
    {
        var own = group.Plans.Select(p => p.TargetOid).ToHashSet();
        var committed = _outcomes.Where(o => o.Value).SelectMany(o => Plan.Groups[o.Key].Plans).Select(p => p.TargetOid).ToHashSet();
        return Plan.DeferredKeys
            .Where(k => (own.Contains(k.From) || own.Contains(k.To)) && (own.Contains(k.From) || committed.Contains(k.From)) && (own.Contains(k.To) || committed.Contains(k.To)))
            .ToList();
    }

    /// <summary>
    /// Runs every group, up to <paramref name="throttleLimit"/> at once, each after the groups it
    /// references have committed; a group whose parent failed does not load and says why. Each
    /// outcome is reported as it happens, from the worker that had it.
    /// </summary>
    public async Task ExecuteAsync(int throttleLimit, Action<RunGroupOutcome> report, IOperationObserver? observer = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(report);
        new RunOptions { ThrottleLimit = throttleLimit }.Validate();
        using var slots = new SemaphoreSlim(throttleLimit);
        // Validations have their own slots: queued behind the groups still waiting for one, they would
        // wait for the last load to start, while the tail of the loads leaves the servers half idle.
        using var validationSlots = new SemaphoreSlim(throttleLimit);
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var groups = new Task<bool>[Plan.Groups.Count];
        var validations = new ConcurrentQueue<Task>();
        var attempted = new ConcurrentDictionary<(string Table, string Name), bool>();
        Task<bool>? previous = null;
        foreach (var group in StartOrder(throttleLimit))
        {
            // Parents come earlier in the plan, so their tasks exist already.
            groups[group] = previous is not null && throttleLimit == 1 ? AfterAsync(previous, group) : GroupAsync(group);
            previous = groups[group];
        }

        try
        {
            await Task.WhenAll(groups).ConfigureAwait(false);
            while (validations.TryDequeue(out var validation))
            {
                await validation.ConfigureAwait(false);
            }

            if (Plan.DeferredKeys.Count > 0)
            {
                await RestoreKeysAsync(throttleLimit, attempted.Keys.ToHashSet(), report, observer ?? NullObserver.Instance, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (cancellationToken.IsCancellationRequested)
        {
            // Stopped by the caller (Ctrl+C): whatever each group's statement said when it was
            // cancelled, the run was cancelled, and -Resume continues it.
            _cancelled = true;
            throw ex as OperationCanceledException ?? new OperationCanceledException("The run was cancelled.", ex, cancellationToken);
        }
        finally
        {
            // Validations still under way end before their slots go (each handles its own failure).
            await Task.WhenAll(validations).ConfigureAwait(false);
        }

        // One after another with a limit of 1: the plan's order, as a run has always loaded.
        async Task<bool> AfterAsync(Task<bool> previous, int group)
        {
            await Task.WhenAny(previous).ConfigureAwait(false);
            return await GroupAsync(group).ConfigureAwait(false);
        }

        // A key both of whose tables have committed is validated while later groups load: it locks
        // only committed tables (SHARE UPDATE EXCLUSIVE on its own, ROW SHARE on its parent), so no
        // load waits for it, and a load adding a key back waits for it at most, never the reverse.
        async Task ValidateKeyAsync(ForeignKeyGraph.Key key)
        {
            attempted[(key.Definition.Table, key.Definition.Name)] = true;
            try
            {
                await validationSlots.WaitAsync(stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopped: the key stays listed, NOT VALID, for the run's end or the next call.
                attempted.TryRemove((key.Definition.Table, key.Definition.Name), out _);
                return;
            }

            try
            {
                if (await RunKeys.ValidateAsync(_target, key, observer ?? NullObserver.Instance, stopping.Token).ConfigureAwait(false) is { } failure)
                {
                    var owner = Plan.Groups.SelectMany(g => g.Plans).First(p => p.TargetOid == key.From);
                    report(new RunGroupOutcome(KeysGroup, [owner.Request.SourceTable], [], failure));
                }
            }
            catch (Exception ex) when (ex is NpgsqlException or OperationCanceledException)
            {
                // Left listed: the run's end tries it again, or the next call on the target.
                attempted.TryRemove((key.Definition.Table, key.Definition.Name), out _);
            }
            finally
            {
                validationSlots.Release();
            }
        }

        async Task<bool> GroupAsync(int group)
        {
            var tables = Plan.GroupTables(group);
            var parents = Plan.Groups[group].Parents;
            var parentsDone = await Task.WhenAll(parents.Select(p => groups[p])).ConfigureAwait(false);
            var blocked = parents.Where((_, i) => !parentsDone[i]).SelectMany(Plan.GroupTables).ToList();
            if (blocked.Count > 0)
            {
                _outcomes[group] = false;
                report(new RunGroupOutcome(group, tables, [], new ConfitureException(ConfitureErrorKind.MigrationFailed,
                    $"{string.Join(", ", tables)} not migrated: {(tables.Count == 1 ? "it references" : "they reference")} {string.Join(", ", blocked)}, which failed in this run.",
                    tables[0], "Fix the failure of the referenced table and run these tables again (with -Resume to keep what the run committed).")));
                return false;
            }

            try
            {
                await slots.WaitAsync(stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                _outcomes[group] = false;
                report(new RunGroupOutcome(group, tables, [], new ConfitureException(ConfitureErrorKind.MigrationFailed,
                    $"{string.Join(", ", tables)} not migrated: the run stopped when it lost a server, as reported for another table.",
                    tables[0], "Run the tables again with -Resume once the server can be reached.")));
                return false;
            }

            try
            {
                var results = await MigrateGroupAsync(group, observer, stopping.Token).ConfigureAwait(false);
                report(new RunGroupOutcome(group, tables, results, null));
                while (_addedKeys.TryDequeue(out var key))
                {
                    validations.Enqueue(ValidateKeyAsync(key));
                }

                return true;
            }
            catch (ConfitureException ex) when (!cancellationToken.IsCancellationRequested)
            {
                report(new RunGroupOutcome(group, tables, [], ex));
                if (ex.Kind is ConfitureErrorKind.ConnectionFailed or ConfitureErrorKind.AuthenticationFailed)
                {
                    // A server gone is every group's failure: the others stop instead of failing one by one.
                    await stopping.CancelAsync().ConfigureAwait(false);
                }

                return false;
            }
            finally
            {
                slots.Release();
            }
        }
    }

    /// <summary>
    /// The order groups start in: the plan's (parents first), or, when several load at once and no
    /// group waits for another (the keys among them deferred), the small tables and then the
    /// largest first, so that the last to finish is a small one.
    /// </summary>
    private IEnumerable<int> StartOrder(int throttleLimit)
    {
        var order = Enumerable.Range(0, Plan.Groups.Count);
        if (throttleLimit == 1 || Plan.Groups.Any(g => g.Parents.Count > 0))
        {
            return order;
        }

        // The small tables (lookup tables, mostly parents) go first, in a few milliseconds each: the
        // keys of the large ones to them can then come back, and be validated, as each large one commits.
        long Bytes(int g) => Plan.Groups[g].Plans.Sum(p => _bytes.TryGetValue(p.Request.SourceTable, out var bytes) ? bytes : 0);
        return order.OrderBy(g => Bytes(g) < SmallTableBytes ? 0 : 1).ThenByDescending(g => Bytes(g) < SmallTableBytes ? 0 : Bytes(g)).ThenBy(g => g);
    }

    /// <summary>Below this size a table loads first in a run whose tables wait for none other.</summary>
    private const long SmallTableBytes = 1L << 20;

    /// <summary>
    /// The deferred keys not yet back (their tables committed at once, or one failed) back once every
    /// group has committed or failed, and validated; each key that cannot be validated (its rows
    /// reference a parent's rows that did not load) is reported against its table.
    /// </summary>
    private async Task RestoreKeysAsync(
        int throttleLimit, IReadOnlySet<(string Table, string Name)> attempted, Action<RunGroupOutcome> report, IOperationObserver observer, CancellationToken cancellationToken)
    {
        var tables = Plan.Groups.SelectMany(g => g.Plans).ToList();
        IReadOnlyList<(uint Table, ConfitureException Error)> failures;
        try
        {
            failures = await RunKeys.RestoreAsync(_target, tables.Select(p => p.TargetOid).ToHashSet(), attempted, throttleLimit, observer, cancellationToken).ConfigureAwait(false);
        }
        catch (NpgsqlException ex) when (!cancellationToken.IsCancellationRequested)
        {
            failures = [(tables[0].TargetOid, new ConfitureException(ConfitureErrorKind.MigrationFailed,
                $"The foreign keys among the run's tables could not be added back: {(ex as PostgresException)?.MessageText ?? ex.Message}. " +
                $"They stay listed in {TargetRecord.Schema}.run_key, and the next Confiture call on the target adds them back.",
                tables[0].TargetTable, "Fix the cause the message names, then run any Confiture command on the target (Test-ConfitureMigration, say).", ex))];
        }

        foreach (var (table, error) in failures)
        {
            var owner = tables.First(p => p.TargetOid == table);
            report(new RunGroupOutcome(KeysGroup, [owner.Request.SourceTable], [], error));
        }
    }

    /// <summary>
    /// Before the first load, in one transaction: the keys among the tables of a -DeferIndexes run
    /// listed and dropped, and the tables the run empties together emptied.
    /// </summary>
    private async Task PrepareTablesAsync(List<string> truncate, IOperationObserver observer, CancellationToken cancellationToken)
    {
        await using var connection = await _target.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        if (Plan.DeferredKeys.Count > 0)
        {
            // The run's lock, held while it lives, is what tells its listed keys from those of a run that died.
            var id = RunId ?? throw new ConfitureException(ConfitureErrorKind.RunNotPossible,
                $"-DeferIndexes over a run lists the keys it drops in {TargetRecord.Schema}.run_key, which {connection.UserName} may not write.", null,
                $"Run as a role that may write schema {TargetRecord.Schema} on the target, or leave -DeferIndexes out.");
            await RunKeys.DropAsync(connection, id, Plan.DeferredKeys, observer, cancellationToken).ConfigureAwait(false);
        }

        if (truncate.Count > 0)
        {
            await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain($"TRUNCATE {string.Join(", ", truncate)}"), observer, cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>How the run ended, for the ledger: completed when every group committed.</summary>
    private string EndState() =>
        Enumerable.Range(0, Plan.Groups.Count).All(g => _outcomes.TryGetValue(g, out var ok) && ok) ? "completed"
        : _cancelled ? "cancelled"
        : "failed";

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_ledgerConnection is not null)
        {
            if (RunId is { } id)
            {
                // A connection that broke leaves the run 'running' without a lock holder: it reads as failed.
                var connection = _ledgerConnection;
                await TableMigrator.QuietlyAsync(() => RunLedger.FinishAsync(connection, id, EndState(), CancellationToken.None)).ConfigureAwait(false);
                // Released before the connection goes back to the pool, where the lock would outlive the run.
                await TableMigrator.QuietlyAsync(() => SqlExecutor.ScalarAsync<bool>(connection, "SELECT pg_advisory_unlock($1)", CancellationToken.None, RunLedger.LockKey(id))).ConfigureAwait(false);
            }

            await _ledgerConnection.DisposeAsync().ConfigureAwait(false);
            _ledgerConnection = null;
        }

        if (_snapshotTransaction is not null)
        {
            await _snapshotTransaction.DisposeAsync().ConfigureAwait(false);
        }

        if (_snapshotConnection is not null)
        {
            await _snapshotConnection.DisposeAsync().ConfigureAwait(false);
        }
    }
}
