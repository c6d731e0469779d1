namespace Confiture.Core.Migration;

/// <summary>What to migrate and how.</summary>
public sealed record TableMigrationRequest
{
    /// <summary>The source table.</summary>
    public required string SourceTable { get; init; }

    /// <summary>The source schema; null for the session's.</summary>
    public string? SourceSchema { get; init; }

    /// <summary>The target table; null for the source table's name.</summary>
    public string? TargetTable { get; init; }

    /// <summary>The target schema.</summary>
    public string TargetSchema { get; init; } = "public";

    /// <summary>Source column to target column, in order, and nothing else moves; null follows <see cref="Map"/>.</summary>
    public IReadOnlyList<ColumnPair>? ColumnMapping { get; init; }

    /// <summary>
    /// The map entry of this table (renames, exclusions, columns allowed their default); null is an
    /// empty entry: every column by its name, and any column left over is an error.
    /// </summary>
    public TableMap? Map { get; init; }

    /// <summary>The old, lenient rule when no mapping is given: move the columns both tables share by name, leave the rest without a word.</summary>
    public bool SharedColumnsOnly { get; init; }

    /// <summary>Replace the target's rows (in the same transaction).</summary>
    public bool Truncate { get; init; }

    /// <summary>Add to the target's rows.</summary>
    public bool Append { get; init; }

    /// <summary>
    /// Drops the target's indexes and key constraints (and foreign keys pointing at it) before the
    /// load and rebuilds them after, in the same transaction: faster for an empty or truncated target.
    /// </summary>
    public bool DeferIndexes { get; init; }

    /// <summary>
    /// Copies this many key ranges at once (Copy strategy), all reading one exported source snapshot.
    /// Parts commit separately: a failure empties the target table instead of restoring its old rows.
    /// </summary>
    public int Parallel { get; init; } = 1;

    /// <summary>
    /// How long to wait at most for the target table's locks (another run of the same table, or any
    /// session holding a conflicting lock); null waits as the server's lock_timeout says.
    /// </summary>
    public TimeSpan? LockTimeout { get; init; }

    /// <summary>
    /// Leaves the loaded table without fresh planner statistics (no ANALYZE in the load's transaction,
    /// nor after a sync that changed a large share of it): autovacuum analyzes it when it gets to it.
    /// </summary>
    public bool SkipAnalyze { get; init; }

    /// <summary>The expected row count, for progress; null when unknown.</summary>
    public long? ExpectedRows { get; init; }

    /// <summary>The target table's name once defaults apply.</summary>
    public string EffectiveTargetTable => string.IsNullOrEmpty(TargetTable) ? SourceTable : TargetTable;
}
