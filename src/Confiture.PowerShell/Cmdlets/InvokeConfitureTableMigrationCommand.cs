using System.Collections;
using System.Collections.Specialized;
using System.Globalization;
using System.Management.Automation;
using Confiture.Core;
using Confiture.Core.Migration;
using Confiture.Core.Run;
using Confiture.PowerShell.Completion;
using Confiture.PowerShell.Hosting;
using Confiture.PowerShell.Types;

namespace Confiture.PowerShell.Cmdlets;

/// <summary>
/// <para type="synopsis">Moves one table's rows from the source to the target, in one target transaction.</para>
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "ConfitureTableMigration", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ConfitureTableMigrationResult))]
public sealed class InvokeConfitureTableMigrationCommand : ConfitureCmdlet
{
    private int _progressId;

    /// <summary>The session (piped in itself, or carried by a strategy or result object); left out, the last one made in this session.</summary>
    [Parameter(ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNull]
    public ConfitureMigration? Migration { get; set; }

    /// <summary>The source tables (in the session's source schema unless -SourceSchema); wildcards match the session's tables. Several tables make one run.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Table")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(SourceTableCompleter))]
    public string[] SourceTable { get; set; } = [];

    /// <summary>The source schema; left out, the session's.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("Schema")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(SourceSchemaCompleter))]
    public string? SourceSchema { get; set; }

    /// <summary>The target table (one source table only); left out, the map's, else the source table's name. Bound from a piped result, so a -Sync of it syncs the same table.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TargetTableCompleter))]
    public string? TargetTable { get; set; }

    /// <summary>The target schema; left out, the map's, else public. Bound from a piped result.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TargetSchemaCompleter))]
    public string? TargetSchema { get; set; }

    /// <summary>Source column to target column (a hashtable or an ordered dictionary), and nothing else moves; left out, the map's entry (every column by name unless renamed or excluded). Bound from a piped result: a -Sync of it keeps its renames.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public IDictionary? ColumnMapping { get; set; }

    /// <summary>A migration map (a hashtable or a .psd1 path) keyed by source table: Table, Schema, Rename, Exclude, Default. The session keeps it.</summary>
    [Parameter]
    [ValidateNotNull]
    public object? Map { get; set; }

    /// <summary>The lenient rule of old: with no mapping, move the columns both tables share by name and leave the others without a word.</summary>
    [Parameter]
    public SwitchParameter SharedColumnsOnly { get; set; }

    /// <summary>Auto (ask the planner), Fdw or Copy.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public StrategyChoice Strategy { get; set; } = StrategyChoice.Auto;

    /// <summary>The expected row count, for the progress bar (bound from Get-ConfitureStrategy's RowCount).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true, DontShow = true)]
    [Alias("RowCount")]
    public long? ExpectedRows { get; set; }

    /// <summary>Replaces the target's rows, in the same transaction as the load.</summary>
    [Parameter]
    public SwitchParameter Truncate { get; set; }

    /// <summary>Adds to the target's rows instead of refusing a non-empty target.</summary>
    [Parameter]
    public SwitchParameter Append { get; set; }

    /// <summary>Asks nothing: not the confirmation -Truncate asks for, nor one $ConfirmPreference would ask for (an explicit -Confirm still asks).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Drops the target's indexes and key constraints for the load and rebuilds them after, in the same transaction (empty or truncated target only).</summary>
    [Parameter]
    public SwitchParameter DeferIndexes { get; set; }

    /// <summary>Copies this many key ranges at once under one source snapshot (Copy strategy; parts commit separately).</summary>
    [Parameter]
    [ValidateRange(1, 64)]
    public int Parallel { get; set; } = 1;

    /// <summary>
    /// Seconds to wait at most for the target table's locks (another run of the same table, or a session
    /// holding a conflicting lock) before failing with Confiture.LockTimeout; while it waits, a warning
    /// names the session that holds the lock. Without it, the wait lasts as the server's lock_timeout says.
    /// </summary>
    [Parameter]
    [ValidateRange(1, 604800)]
    public int? LockTimeout { get; set; }

    /// <summary>Leaves out the ANALYZE each load runs in its transaction (and each sync that changed over a tenth of the rows): the table then has no planner statistics until autovacuum analyzes it.</summary>
    [Parameter]
    public SwitchParameter SkipAnalyze { get; set; }

    /// <summary>Brings an already migrated target table up to date with the source instead of loading it: within the key ranges whose digests differ, updates changed rows in place, inserts new ones and deletes those gone from the source.</summary>
    [Parameter]
    public SwitchParameter Sync { get; set; }

    /// <summary>With -Sync: a mapped change column (such as updated_at); reads only the rows the source wrote since the last recorded sync (by transaction id) or changed at or past the target's newest value, and deletes rows the source no longer has.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ChangedSince { get; set; }

    /// <summary>
    /// How many tables (or key cycles) of a run load at once, each in its own target transaction and
    /// connection, all reading the run's one source snapshot; a table starts only after the tables it
    /// references have committed. Left out: 1 on a machine with fewer than 4 cores, else half the cores, at most 4.
    /// </summary>
    [Parameter]
    [ValidateRange(1, 64)]
    public int ThrottleLimit { get; set; } = RunOptions.DefaultThrottleLimit;

    /// <summary>
    /// Continues the latest unfinished run of the session over the same tables (failed, cancelled or
    /// killed): the tables it committed are checked against its ledger (map and row count) and
    /// skipped, the rest are migrated. With -Sync, the skipped tables are then brought up to date with the source.
    /// </summary>
    [Parameter]
    public SwitchParameter Resume { get; set; }

    private readonly List<Pending> _pending = [];
    private bool _strategyGiven;
    private MigrationMap? _map;

    /// <summary>One table waiting for the run, with what the pipeline bound for it.</summary>
    private sealed record Pending(ConfitureMigration Migration, TableMigrationRequest Request, StrategyChoice Strategy, bool PipedAdvice);

    /// <inheritdoc />
    protected override void BeginProcessing()
    {
        // Given on the command line, the strategy is an order; bound from a piped object, advice.
        _strategyGiven = MyInvocation.BoundParameters.ContainsKey(nameof(Strategy));
        if (Map is not null)
        {
            Guard(() => _map = MigrationMaps.From(Map), target: Map, terminating: true);
        }
    }

    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        var migration = RequireSession(Migration);
        if (_map is not null)
        {
            migration.Map = _map;
        }

        foreach (var table in Expand(migration))
        {
            Guard(() =>
            {
                if (ChangedSince is not null && !Sync)
                {
                    throw new ConfitureException(ConfitureErrorKind.InvalidArgument, "-ChangedSince goes with -Sync.", table,
                        "Add -Sync to bring an already migrated table up to date.");
                }

                var request = Request(migration, table);
                if (Sync && !Resume)
                {
                    SyncTable(migration, request, request.EffectiveTargetTable);
                    return;
                }

                _pending.Add(new Pending(migration, request, Strategy, !_strategyGiven && MyInvocation.ExpectingInput));
            }, target: table, terminating: false);
        }
    }

    /// <inheritdoc />
    protected override void EndProcessing()
    {
        if (_pending.Count == 0)
        {
            return;
        }

        var migration = _pending[0].Migration;
        if (_pending.Any(p => !ReferenceEquals(p.Migration, migration)))
        {
            ThrowTerminatingError(ErrorRecords.InvalidArgument("The tables of one run must belong to one session.", migration,
                "Pipe each session's tables into a call of their own."));
        }

        if (_pending.Count > 1 && (TargetTable is not null && !MyInvocation.ExpectingInput))
        {
            ThrowTerminatingError(ErrorRecords.InvalidArgument("-TargetTable names one table; the run has several.", TargetTable,
                "Name the target tables in -Map (Table = 'new_name'), or migrate that table alone."));
        }

        RunPlan? plan = null;
        Guard(() => plan = PlanRun(migration), target: _pending[0].Request.SourceTable, terminating: true);
        foreach (var (table, error) in plan!.Failures)
        {
            WriteError(ErrorRecords.From(error, error.Target ?? table));
        }

        if (plan.GroupCount == 0)
        {
            return;
        }

        var what = _pending.Count == 1
            ? $"{_pending[0].Request.TargetSchema}.{_pending[0].Request.EffectiveTargetTable} on {migration.Target}"
            : $"{_pending.Count} tables on {migration.Target}";
        var rows = plan.GroupCount == 1 && plan.Order[0].Count == 1
            ? $"{_pending[0].Request.SourceSchema ?? migration.SourceSchema}.{plan.Order[0][0]} ({plan.Strategies[0]})"
            : $"{plan.Order.Sum(g => g.Count)} tables ({string.Join(", ", plan.Order.SelectMany(g => g).Select(t => $"{_pending[0].Request.SourceSchema ?? migration.SourceSchema}.{t}"))})";
        var action = $"{(Truncate ? "Replace all rows with" : Append ? "Append" : "Insert")} the rows of {rows}";
        var description = $"{action} into {what}:" + Environment.NewLine + string.Join(Environment.NewLine, plan.Describe().Select(s => "  " + s + ";"));
        if (!Confirmation.ShouldProcess(this, description, $"{action} into {what}?", "Invoke-ConfitureTableMigration", Force, ConfirmRemedy, what)
            || (Truncate && !ConfirmTruncate(what)))
        {
            return;
        }

        MigrationRun? run = null;
        var options = new RunOptions { ThrottleLimit = ThrottleLimit, Resume = Resume };
        Guard(() => run = Run((observer, token) => migration.Migrator.StartRunAsync(plan, options, observer, token)), target: _pending[0].Request.SourceTable, terminating: true);
        ConfitureException? broken = null;
        try
        {
            var progress = new RunProgress(this, run!, ++_progressId);
            Guard(() =>
            {
                Run<bool>(async (observer, token) =>
                    {
                        await run!.ExecuteAsync(ThrottleLimit, outcome => ((PipelineObserver)observer).Post(outcome), observer, token).ConfigureAwait(false);
                        return true;
                    },
                    progress.Update,
                    message =>
                    {
                        if (message is not RunGroupOutcome outcome)
                        {
                            return;
                        }

                        progress.Done(outcome);
                        foreach (var result in outcome.Results)
                        {
                            WriteObject(ToOutput(result, migration));
                        }

                        if (outcome.Error is { } error)
                        {
                            // A server gone stops the call once the run has reported every group.
                            if (BreaksSession(error))
                            {
                                broken ??= error;
                            }
                            else
                            {
                                WriteError(ErrorRecords.From(error, error.Target ?? outcome.Tables[0]));
                            }
                        }
                    });
            }, target: _pending[0].Request.SourceTable, terminating: true);
            progress.Complete();
        }
        finally
        {
            run?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        if (broken is not null)
        {
            ThrowTerminatingError(ErrorRecords.From(broken, broken.Target ?? _pending[0].Request.SourceTable));
        }

        if (Resume && Sync)
        {
            // The tables the earlier run committed were read from an older snapshot: bring them up to date.
            foreach (var table in run!.SkippedTables)
            {
                var pending = _pending.First(p => p.Request.SourceTable == table);
                Guard(() => SyncTable(migration, pending.Request with { Truncate = false }, pending.Request.EffectiveTargetTable), target: table, terminating: false);
            }
        }
    }

    /// <summary>The table names this record names, wildcards matched against the session's tables.</summary>
    private IEnumerable<string> Expand(ConfitureMigration migration)
    {
        foreach (var name in SourceTable)
        {
            if (!WildcardPattern.ContainsWildcardCharacters(name))
            {
                yield return name;
                continue;
            }

            // A wildcard names tables only: the session's views and materialized views match no pattern.
            IReadOnlyList<string> matches = [];
            Guard(() => matches = Run((_, token) => migration.Migrator.TablesAmongAsync(TableSelection.Match(name, migration.Tables), cancellationToken: token)),
                target: name, terminating: true);
            if (matches.Count == 0)
            {
                WriteError(ErrorRecords.From(TableSelection.NoMatch(name, migration.Tables), name));
            }

            foreach (var match in matches)
            {
                yield return match;
            }
        }
    }

    private TableMigrationRequest Request(ConfitureMigration migration, string table)
    {
        var entry = migration.Map?.For(table);
        return new TableMigrationRequest
        {
            SourceTable = table,
            SourceSchema = SourceSchema,
            TargetTable = TargetTable ?? entry?.TargetTable,
            TargetSchema = TargetSchema ?? entry?.TargetSchema ?? "public",
            ColumnMapping = ColumnMapping is null ? null : ColumnMappings.ToPairs(ColumnMapping, table),
            Map = entry,
            SharedColumnsOnly = SharedColumnsOnly,
            Truncate = Truncate,
            Append = Append,
            ExpectedRows = ExpectedRows,
            DeferIndexes = DeferIndexes,
            Parallel = Parallel,
            SkipAnalyze = SkipAnalyze,
            LockTimeout = LockTimeout is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
        };
    }

    /// <summary>
    /// Decides each table's strategy and plans the run once. Several tables share one snapshot,
    /// which only Copy can read, so the planner's Fdw advice becomes Copy there; a strategy given
    /// on the command line is kept. A stale foreign table sends Auto to Copy.
    /// </summary>
    private RunPlan PlanRun(ConfitureMigration migration)
    {
        var alone = _pending.Count == 1;
        var strategies = _pending.Select(p => p.Strategy switch
        {
            StrategyChoice.Fdw when (!alone || migration.Migrator.HasChangeStream) && p.PipedAdvice => MigrationStrategy.Copy,
            StrategyChoice.Fdw => MigrationStrategy.Fdw,
            StrategyChoice.Copy => MigrationStrategy.Copy,
            // A change stream's snapshot, like a run's, is read by Copy only.
            _ when !alone || migration.Migrator.HasChangeStream => MigrationStrategy.Copy,
            _ => Run((_, token) => migration.Migrator.AnalyzeTablesAsync(p.Request.SourceSchema, [p.Request.SourceTable], map: migration.Map, cancellationToken: token))[0].Strategy,
        }).ToArray();
        if (!alone && strategies.Contains(MigrationStrategy.Fdw))
        {
            WriteWarning("-Strategy Fdw reads through postgres_fdw, which cannot share the run's snapshot: those tables each read a snapshot of their own.");
        }

        while (true)
        {
            var tables = _pending.Select((p, i) => new RunTable(p.Request, strategies[i])).ToList();
            var plan = Run((observer, token) => migration.Migrator.PlanRunAsync(tables, observer, token));
            // Copy reads the source table itself: the right choice when the foreign table lags behind it.
            var stale = plan.Failures
                .Where(f => f.Error.Kind == ConfitureErrorKind.ForeignTableOutOfDate)
                .Select(f => _pending.FindIndex(p => p.Request.SourceTable == f.Table))
                .Where(i => i >= 0 && strategies[i] == MigrationStrategy.Fdw && (!_strategyGiven || _pending[i].Strategy == StrategyChoice.Auto))
                .ToList();
            if (stale.Count == 0)
            {
                return plan;
            }

            foreach (var index in stale)
            {
                WriteVerbose($"The foreign table of \"{_pending[index].Request.SourceTable}\" is out of date with the source: Copy instead.");
                strategies[index] = MigrationStrategy.Copy;
            }
        }
    }

    private void SyncTable(ConfitureMigration migration, TableMigrationRequest request, string targetTable)
    {
        var what = $"{request.TargetSchema}.{targetTable} on {migration.Target}";
        var how = ChangedSince is null
            ? "within the key ranges whose digests differ from the source's, update changed rows in place, insert new ones and delete those gone from the source"
            : $"update or insert the rows the source wrote since the last recorded sync or whose \"{ChangedSince}\" is at or past the target's newest value, and delete rows gone from the source";
        if (!Confirmation.ShouldProcess(this, $"Sync {what} with {SourceSchema ?? migration.SourceSchema}.{request.SourceTable}: {how}, in one transaction.", $"Sync {what}?",
            "Invoke-ConfitureTableMigration -Sync", Force, ConfirmRemedy, what))
        {
            return;
        }

        // Its own bar: the phases of the sync (hashing, narrowing, rewriting) and how far each is.
        var bars = new PhaseProgressBars(this, () => ++_progressId, "Syncing", several: false, total: null);
        TableMigrationResult? result = null;
        bars.Track(request.SourceTable, () => result = Run((observer, token) => migration.Migrator.SyncTableAsync(request, ChangedSince, observer, token), bars.Update));
        WriteObject(ToOutput(result!, migration));
    }

    private static PSObject ToOutput(TableMigrationResult result, ConfitureMigration migration)
    {
        var mapping = new OrderedDictionary(StringComparer.Ordinal);
        foreach (var pair in result.Columns)
        {
            mapping[pair.Source] = pair.Target;
        }

        return new ConfitureTableMigrationResult(result.SourceSchema, result.SourceTable, result.TargetSchema, result.TargetTable,
            result.Strategy == MigrationStrategy.Copy ? StrategyChoice.Copy : StrategyChoice.Fdw,
            result.RowsMigrated, result.Elapsed, result.RowsPerSecond, mapping, migration)
        {
            Mode = result.Sync is not null ? "Sync" : result.Resumed ? "Resumed" : "Migrate",
            RunId = result.RunId,
            // A resumed table's rows were written by the run it continues, not by this call.
            RowsInserted = result.Sync?.RowsInserted ?? (result.Resumed ? 0 : result.RowsMigrated),
            RowsUpdated = result.Sync?.RowsUpdated ?? 0,
            RowsDeleted = result.Sync?.RowsDeleted ?? 0,
            RangesCompared = result.Sync?.RangesCompared ?? 0,
            SourceSnapshotAt = result.SourceSnapshotAt,
            AnalyzeElapsed = result.AnalyzeElapsed,
        }.ToPipelineObject();
    }

    private const string ConfirmRemedy = "Add -Force (or -Confirm:$false) to go on without a question, as an unattended run must; -WhatIf shows what it would do.";

    /// <summary>
    /// -Truncate destroys rows, so it asks as a High-impact change would, on top of the Medium
    /// ShouldProcess: unless -Force, -Confirm:$false, or $ConfirmPreference set to None. A host
    /// that cannot ask gets Confiture.ConfirmationRequired, before anything is changed.
    /// </summary>
    private bool ConfirmTruncate(string what)
    {
        if (Force || MyInvocation.BoundParameters.ContainsKey("Confirm"))
        {
            return true;
        }

        var preference = GetVariableValue("ConfirmPreference") is ConfirmImpact impact ? impact : ConfirmImpact.High;
        return preference == ConfirmImpact.None
            || Confirmation.ShouldContinue(this, $"Delete every row of {what} and replace them with the source's?", "Confirm -Truncate",
                "Add -Force (or -Confirm:$false) to replace the rows without a question, as an unattended run must.", what);
    }

    /// <summary>
    /// The run's progress bars, on the pipeline thread: one for the run (tables done of all, rows
    /// moved, rows/s and time left from the expected rows) and a child bar per table loading; a table
    /// alone gets its own bar only, as it always has.
    /// </summary>
    private sealed class RunProgress(InvokeConfitureTableMigrationCommand cmdlet, MigrationRun run, int id)
    {
        private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
        private readonly Dictionary<string, int> _children = new(StringComparer.Ordinal);
        private readonly Dictionary<string, long> _rows = new(StringComparer.Ordinal);
        private readonly int _total = run.Plan.Order.Sum(g => g.Count);
        private int _done;

        private bool Alone => _total == 1;

        /// <summary>The rows a table is expected to hold: as bound (Get-ConfitureStrategy's RowCount), else the source's estimate.</summary>
        private long? Expected(string table, long? given) =>
            given ?? cmdlet._pending.FirstOrDefault(p => p.Request.SourceTable == table)?.Request.ExpectedRows
                  ?? (run.RowEstimates.TryGetValue(table, out var estimate) ? estimate : null);

        public void Update(MigrationProgress progress)
        {
            if (!_children.TryGetValue(progress.Table, out var child))
            {
                child = Alone ? id : ++cmdlet._progressId;
                _children[progress.Table] = child;
            }

            _rows[progress.Table] = progress.RowsDone;
            var status = string.Format(CultureInfo.CurrentCulture, "{0:N0} rows, {1:N0} rows/s", progress.RowsDone, progress.RowsPerSecond);
            var record = new ProgressRecord(child, $"Migrating {progress.Table}", status) { ParentActivityId = Alone ? -1 : id };
            Estimate(record, progress.RowsDone, Expected(progress.Table, progress.RowsExpected), progress.RowsPerSecond);
            cmdlet.WriteProgress(record);
            WriteRun();
        }

        public void Done(RunGroupOutcome outcome)
        {
            if (outcome.Group == MigrationRun.KeysGroup)
            {
                // A deferred key that could not be validated: its table was counted when it committed.
                return;
            }

            foreach (var table in outcome.Tables)
            {
                if (_children.Remove(table, out var child))
                {
                    cmdlet.WriteProgress(new ProgressRecord(child, $"Migrating {table}", "Done") { ParentActivityId = Alone ? -1 : id, RecordType = ProgressRecordType.Completed });
                }

                _rows.Remove(table);
            }

            _done += outcome.Tables.Count;
            _moved += outcome.Results.Where(r => !r.Resumed).Sum(r => r.RowsMigrated);
            if (outcome.Results.Count > 0 && outcome.Results.All(r => r.Resumed))
            {
                _skippedExpected += outcome.Tables.Sum(t => Expected(t, null) ?? 0);
            }

            WriteRun();
        }

        public void Complete()
        {
            if (!Alone)
            {
                cmdlet.WriteProgress(new ProgressRecord(id, Activity, "Done") { RecordType = ProgressRecordType.Completed });
            }
        }

        private long _moved;
        private long _skippedExpected;

        private string Activity => $"Migrating {_total} tables";

        private void WriteRun()
        {
            if (Alone)
            {
                return;
            }

            var rows = _moved + _rows.Values.Sum();
            var seconds = _clock.Elapsed.TotalSeconds;
            var perSecond = seconds > 0 ? rows / seconds : 0;
            var status = string.Format(CultureInfo.CurrentCulture, "{0} of {1} tables, {2:N0} rows, {3:N0} rows/s", _done, _total, rows, perSecond);
            var record = new ProgressRecord(id, Activity, status);
            var expected = run.Plan.Order.SelectMany(g => g).Sum(t => Expected(t, null) ?? 0) - _skippedExpected;
            if (expected > 0)
            {
                Estimate(record, rows, expected, perSecond);
            }
            else
            {
                record.PercentComplete = _done * 100 / _total;
            }

            cmdlet.WriteProgress(record);
        }

        private static void Estimate(ProgressRecord record, long done, long? expected, double perSecond)
        {
            if (expected is > 0 and var rows)
            {
                record.PercentComplete = (int)Math.Clamp(done * 100 / rows, 0, 100);
                if (perSecond > 0)
                {
                    record.SecondsRemaining = (int)Math.Max(0, (rows - done) / perSecond);
                }
            }
        }
    }
}
