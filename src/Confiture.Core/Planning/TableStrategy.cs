using Confiture.Core.Migration;

namespace Confiture.Core.Planning;

/// <summary>The planner's advice for one source table, and what it assumed to give it.</summary>
/// <param name="Schema">The source schema.</param>
/// <param name="Table">The source table.</param>
/// <param name="RowCount">The row estimate (exact when the table was never analyzed).</param>
/// <param name="IsExact">Whether <paramref name="RowCount"/> was counted rather than estimated.</param>
/// <param name="Strategy">The advised strategy.</param>
/// <param name="EstimatedSeconds">The expected time with that strategy.</param>
public sealed record TableStrategy(string Schema, string Table, long RowCount, bool IsExact, MigrationStrategy Strategy, double EstimatedSeconds)
{
    /// <summary>The source table's size on disk (<c>pg_table_size</c>: heap and TOAST, partitions included).</summary>
    public long SizeBytes { get; init; }

    /// <summary>The average bytes of row data per row (from <c>pg_stats</c>, else from the sample, else from the size).</summary>
    public double RowWidth { get; init; }

    /// <summary>The expected time with Copy.</summary>
    public double CopySeconds { get; init; }

    /// <summary>The expected time with Fdw; null when the table cannot go through postgres_fdw.</summary>
    public double? FdwSeconds { get; init; }

    /// <summary>
    /// Where the figures come from: Sampled (timed samples through both paths), SampledCopy (Copy
    /// only: no foreign table), SourceOnly (no target table, or no sample: sizes and reference rates),
    /// Threshold (decided by rows), or Rates (the throughput figures given).
    /// </summary>
    public string Basis { get; init; } = "SourceOnly";

    /// <summary>What the estimate assumed, in words.</summary>
    public IReadOnlyList<string> Assumptions { get; init; } = [];
}
