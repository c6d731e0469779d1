using System.Collections.Specialized;
using System.Management.Automation;

namespace Confiture.PowerShell.Types;

/// <summary>What one table's migration did; pipe it into Test-ConfitureMigration.</summary>
public sealed class ConfitureTableMigrationResult
{
    internal ConfitureTableMigrationResult(
        string sourceSchema, string sourceTable, string targetSchema, string targetTable, StrategyChoice strategy,
        long rowsMigrated, TimeSpan elapsed, double rowsPerSecond, OrderedDictionary columnMapping, ConfitureMigration migration)
    {
        SourceSchema = sourceSchema;
        SourceTable = sourceTable;
        TargetSchema = targetSchema;
        TargetTable = targetTable;
        Strategy = strategy;
        RowsMigrated = rowsMigrated;
        Elapsed = elapsed;
        RowsPerSecond = rowsPerSecond;
        ColumnMapping = columnMapping;
        Migration = migration;
    }

    /// <summary>The source table.</summary>
    public string SourceTable { get; }

    /// <summary>The target table.</summary>
    public string TargetTable { get; }

    /// <summary>The source schema.</summary>
    public string SourceSchema { get; }

    /// <summary>The target schema.</summary>
    public string TargetSchema { get; }

    /// <summary>The strategy used.</summary>
    public StrategyChoice Strategy { get; }

    /// <summary>Rows written to the target.</summary>
    public long RowsMigrated { get; }

    /// <summary>Wall time of the whole call.</summary>
    public TimeSpan Elapsed { get; }

    /// <summary>Rows per second over the whole call.</summary>
    public double RowsPerSecond { get; }

    /// <summary>Source column to target column, as moved (reusable as -ColumnMapping).</summary>
    public OrderedDictionary ColumnMapping { get; }

    /// <summary>Migrate (a load), Sync (catching up with the source), or Resumed (-Resume skipped it: the run it continues had committed it).</summary>
    public string Mode { get; internal init; } = "Migrate";

    /// <summary>Rows added to the target.</summary>
    public long RowsInserted { get; internal init; }

    /// <summary>Rows whose values were replaced (Sync).</summary>
    public long RowsUpdated { get; internal init; }

    /// <summary>Rows removed because the source no longer has them (Sync).</summary>
    public long RowsDeleted { get; internal init; }

    /// <summary>When the source snapshot this table was read from was taken: the same for every table of a run (null for a table migrated alone).</summary>
    public DateTimeOffset? SourceSnapshotAt { get; internal init; }

    /// <summary>The run's id in the target's ledger (confiture.run), for a table of a run of several; what -Resume continues.</summary>
    public Guid? RunId { get; internal init; }

    /// <summary>How long the table's ANALYZE took, inside Elapsed (null with -SkipAnalyze, or a sync that changed a tenth of the rows or less).</summary>
    public TimeSpan? AnalyzeElapsed { get; internal init; }

    /// <summary>Key ranges whose digests were compared (range Sync).</summary>
    public int RangesCompared { get; internal init; }

    /// <summary>The session.</summary>
    public ConfitureMigration Migration { get; }

    /// <summary>The type name that selects the sync view (inserted, updated, deleted, ranges) instead of the load view.</summary>
    public const string SyncTypeName = "Confiture.PowerShell.Types.ConfitureTableMigrationResult#Sync";

    /// <summary>The object as the pipeline gets it: a sync result carries <see cref="SyncTypeName"/> first, so it shows as a sync.</summary>
    internal PSObject ToPipelineObject()
    {
        var wrapped = PSObject.AsPSObject(this);
        if (Mode == "Sync" && !wrapped.TypeNames.Contains(SyncTypeName))
        {
            wrapped.TypeNames.Insert(0, SyncTypeName);
        }

        return wrapped;
    }

    /// <inheritdoc />
    public override string ToString() => $"{SourceSchema}.{SourceTable} -> {TargetSchema}.{TargetTable}: {RowsMigrated} rows";
}
