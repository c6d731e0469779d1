namespace Confiture.PowerShell.Types;

/// <summary>The planner's advice for one source table, and what it assumed; pipe it into Invoke-ConfitureTableMigration.</summary>
public sealed class ConfitureStrategy
{
    internal ConfitureStrategy(string table, string schema, long rowCount, bool isExact, StrategyChoice strategy, double estimatedSeconds, ConfitureMigration migration)
    {
        Table = table;
        Schema = schema;
        RowCount = rowCount;
        IsExact = isExact;
        Strategy = strategy;
        EstimatedSeconds = estimatedSeconds;
        Migration = migration;
    }

    /// <summary>The source table.</summary>
    public string Table { get; }

    /// <summary>The source schema.</summary>
    public string Schema { get; }

    /// <summary>The row estimate from the statistics, or the exact count when never analyzed.</summary>
    public long RowCount { get; }

    /// <summary>Whether <see cref="RowCount"/> was counted rather than estimated.</summary>
    public bool IsExact { get; }

    /// <summary>The advised strategy: the faster of the two estimates (or by rows, with -CopyThreshold).</summary>
    public StrategyChoice Strategy { get; }

    /// <summary>The expected time with that strategy, in seconds.</summary>
    public double EstimatedSeconds { get; }

    /// <summary>The source table's size on disk, in bytes (pg_table_size: heap and TOAST).</summary>
    public long SizeBytes { get; internal init; }

    /// <summary>The average bytes of row data per row.</summary>
    public double RowWidth { get; internal init; }

    /// <summary>The expected time with Copy, in seconds.</summary>
    public double CopySeconds { get; internal init; }

    /// <summary>The expected time with Fdw, in seconds; null when the table cannot go through postgres_fdw.</summary>
    public double? FdwSeconds { get; internal init; }

    /// <summary>
    /// Where the figures come from: Sampled (both paths timed on a sample), SampledCopy (only Copy
    /// could be sampled), SourceOnly (no target table to sample into: sizes and reference rates),
    /// Threshold (-CopyThreshold decided by rows) or Rates (-CopyRowsPerSecond / -FdwRowsPerSecond).
    /// </summary>
    public string Basis { get; internal init; } = string.Empty;

    /// <summary>What the estimate assumed, in words: sizes, sampled rates, indexes, what was not sampled.</summary>
    public string[] Assumptions { get; internal init; } = [];

    /// <summary>The session the advice belongs to.</summary>
    public ConfitureMigration Migration { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Schema}.{Table}: {Strategy}";
}
