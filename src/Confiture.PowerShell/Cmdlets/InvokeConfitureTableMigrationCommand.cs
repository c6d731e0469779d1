using System.Collections;
using System.Collections.Specialized;
using System.Globalization;
using System.Management.Automation;
using Confiture.Core;
using Confiture.Core.Migration;
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

    /// <summary>The source table (in the session's source schema unless -SourceSchema).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Table")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(SourceTableCompleter))]
    public string SourceTable { get; set; } = string.Empty;

    /// <summary>The source schema; left out, the session's.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("Schema")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(SourceSchemaCompleter))]
    public string? SourceSchema { get; set; }

    /// <summary>The target table; left out, the source table's name. Bound from a piped result, so a -Sync of it syncs the same table.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TargetTableCompleter))]
    public string? TargetTable { get; set; }

    /// <summary>The target schema (bound from a piped result).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TargetSchemaCompleter))]
    public string TargetSchema { get; set; } = "public";

    /// <summary>
    /// Source column to target column (a hashtable or an ordered dictionary); left out, every column
    /// both tables share by name. Bound from a piped result: a -Sync of it keeps its renames.
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNull]
    public IDictionary? ColumnMapping { get; set; }

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

    /// <summary>With -Truncate, does not ask for the confirmation a destructive replace otherwise asks for.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Drops the target's indexes and key constraints for the load and rebuilds them after, in the same transaction (empty or truncated target only).</summary>
    [Parameter]
    public SwitchParameter DeferIndexes { get; set; }

    /// <summary>Copies this many key ranges at once under one source snapshot (Copy strategy; parts commit separately).</summary>
    [Parameter]
    [ValidateRange(1, 64)]
    public int Parallel { get; set; } = 1;

    /// <summary>Brings an already migrated target table up to date with the source instead of loading it: within the key ranges whose digests differ, updates changed rows in place, inserts new ones and deletes those gone from the source.</summary>
    [Parameter]
    public SwitchParameter Sync { get; set; }

    /// <summary>With -Sync: a mapped change column (such as updated_at); reads only the rows the source wrote since the last recorded sync (by transaction id) or changed at or past the target's newest value, and deletes rows the source no longer has.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ChangedSince { get; set; }

    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        var migration = RequireSession(Migration);
        var targetTable = string.IsNullOrEmpty(TargetTable) ? SourceTable : TargetTable;
        Guard(() =>
        {
            var request = new TableMigrationRequest
            {
                SourceTable = SourceTable,
                SourceSchema = SourceSchema,
                TargetTable = TargetTable,
                TargetSchema = TargetSchema,
                ColumnMapping = ColumnMapping is null ? null : ColumnMappings.ToPairs(ColumnMapping, SourceTable),
                Truncate = Truncate,
                Append = Append,
                ExpectedRows = ExpectedRows,
                DeferIndexes = DeferIndexes,
                Parallel = Parallel,
            };
            if (ChangedSince is not null && !Sync)
            {
                throw new ConfitureException(ConfitureErrorKind.InvalidArgument, "-ChangedSince goes with -Sync.", SourceTable,
                    "Add -Sync to bring an already migrated table up to date.");
            }

            if (Sync)
            {
                SyncTable(migration, request, targetTable);
                return;
            }

            var strategy = Strategy switch
            {
                StrategyChoice.Fdw => MigrationStrategy.Fdw,
                StrategyChoice.Copy => MigrationStrategy.Copy,
                _ => Run((_, token) => migration.Migrator.AnalyzeTablesAsync(SourceSchema, [SourceTable], cancellationToken: token))[0].Strategy,
            };

            IReadOnlyList<string> statements;
            try
            {
                statements = Run((_, token) => migration.Migrator.PlanMigrationAsync(request, strategy, token));
            }
            catch (ConfitureException ex) when (ex.Kind == ConfitureErrorKind.ForeignTableOutOfDate && Strategy == StrategyChoice.Auto)
            {
                // Copy reads the source table itself: the right choice when the foreign table lags behind it.
                WriteVerbose($"{ex.Message} Auto chose Copy instead.");
                strategy = MigrationStrategy.Copy;
                statements = Run((_, token) => migration.Migrator.PlanMigrationAsync(request, strategy, token));
            }

            var what = $"{TargetSchema}.{targetTable} on {migration.Target}";
            var action = $"{(Truncate ? "Replace all rows with" : Append ? "Append" : "Insert")} the rows of {SourceSchema ?? migration.SourceSchema}.{SourceTable} ({strategy})";
            var description = $"{action} into {what}:" + Environment.NewLine + string.Join(Environment.NewLine, statements.Select(s => "  " + s + ";"));
            if (!ShouldProcess(description, $"{action} into {what}?", "Invoke-ConfitureTableMigration") || (Truncate && !ConfirmTruncate(what)))
            {
                return;
            }

            _progressId++;
            var result = Run((observer, token) => migration.Migrator.MigrateAsync(request, strategy, observer, token), WriteRowProgress);
            CompleteProgress();
            WriteObject(ToOutput(result, migration));
        }, target: SourceTable, terminating: false);
    }

    private void SyncTable(ConfitureMigration migration, TableMigrationRequest request, string targetTable)
    {
        var what = $"{TargetSchema}.{targetTable} on {migration.Target}";
        var how = ChangedSince is null
            ? "within the key ranges whose digests differ from the source's, update changed rows in place, insert new ones and delete those gone from the source"
            : $"update or insert the rows the source wrote since the last recorded sync or whose \"{ChangedSince}\" is at or past the target's newest value, and delete rows gone from the source";
        if (!ShouldProcess($"Sync {what} with {SourceSchema ?? migration.SourceSchema}.{SourceTable}: {how}, in one transaction.", $"Sync {what}?", "Invoke-ConfitureTableMigration -Sync"))
        {
            return;
        }

        var result = Run((observer, token) => migration.Migrator.SyncTableAsync(request, ChangedSince, observer, token));
        WriteObject(ToOutput(result, migration));
    }

    private static ConfitureTableMigrationResult ToOutput(TableMigrationResult result, ConfitureMigration migration)
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
            Mode = result.Sync is null ? "Migrate" : "Sync",
            RowsInserted = result.Sync?.RowsInserted ?? result.RowsMigrated,
            RowsUpdated = result.Sync?.RowsUpdated ?? 0,
            RowsDeleted = result.Sync?.RowsDeleted ?? 0,
            RangesCompared = result.Sync?.RangesCompared ?? 0,
        };
    }

    /// <summary>
    /// -Truncate destroys rows, so it asks as a High-impact change would, on top of the Medium
    /// ShouldProcess: unless -Force, -Confirm:$false, or $ConfirmPreference set to None.
    /// </summary>
    private bool ConfirmTruncate(string what)
    {
        if (Force || MyInvocation.BoundParameters.ContainsKey("Confirm"))
        {
            return true;
        }

        var preference = GetVariableValue("ConfirmPreference") is ConfirmImpact impact ? impact : ConfirmImpact.High;
        return preference == ConfirmImpact.None
            || ShouldContinue($"Delete every row of {what} and replace them with the source's?", "Confirm -Truncate");
    }

    private void WriteRowProgress(MigrationProgress progress)
    {
        var status = string.Format(CultureInfo.CurrentCulture, "{0:N0} rows, {1:N0} rows/s", progress.RowsDone, progress.RowsPerSecond);
        var record = new ProgressRecord(_progressId, $"Migrating {progress.Table}", status);
        if (progress.RowsExpected is > 0 and var expected)
        {
            record.PercentComplete = (int)Math.Clamp(progress.RowsDone * 100 / expected, 0, 100);
            if (progress.RowsPerSecond > 0)
            {
                record.SecondsRemaining = (int)Math.Max(0, (expected - progress.RowsDone) / progress.RowsPerSecond);
            }
        }

        WriteProgress(record);
    }

    private void CompleteProgress() =>
        WriteProgress(new ProgressRecord(_progressId, $"Migrating {SourceTable}", "Done") { RecordType = ProgressRecordType.Completed });
}
