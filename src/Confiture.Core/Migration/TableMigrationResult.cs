namespace Confiture.Core.Migration;

/// <summary>What one table's migration did.</summary>
/// <param name="SourceSchema">The source schema.</param>
/// <param name="SourceTable">The source table.</param>
/// <param name="TargetSchema">The target schema.</param>
/// <param name="TargetTable">The target table.</param>
/// <param name="Strategy">The strategy used.</param>
/// <param name="RowsMigrated">Rows written to the target.</param>
/// <param name="Elapsed">Wall time, from the first statement to the commit.</param>
/// <param name="Columns">The columns moved, in target order.</param>
public sealed record TableMigrationResult(
    string SourceSchema,
    string SourceTable,
    string TargetSchema,
    string TargetTable,
    MigrationStrategy Strategy,
    long RowsMigrated,
    TimeSpan Elapsed,
    IReadOnlyList<ColumnPair> Columns)
{
    /// <summary>When the source snapshot the rows were read from was taken, for a table of a run; null for a table alone.</summary>
    public DateTimeOffset? SourceSnapshotAt { get; init; }

    /// <summary>True when -Resume skipped the table: the run it continues had committed it (RowsMigrated is what that run wrote).</summary>
    public bool Resumed { get; init; }

    /// <summary>The run's id in the target's ledger (confiture.run), for a table of a run of several.</summary>
    public Guid? RunId { get; init; }

    /// <summary>For a sync: what it inserted, updated and deleted; null for a migration.</summary>
    public SyncResult? Sync { get; init; }

    /// <summary>How long the ANALYZE of the table took (part of <see cref="Elapsed"/>); null when none ran.</summary>
    public TimeSpan? AnalyzeElapsed { get; init; }

    /// <summary>Rows per second over the whole call.</summary>
    public double RowsPerSecond => Elapsed.TotalSeconds > 0 ? RowsMigrated / Elapsed.TotalSeconds : 0;
}
