namespace Confiture.PowerShell.Types;

/// <summary>The planner's advice for one source table; pipe it into Invoke-ConfitureTableMigration.</summary>
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

    /// <summary>The faster strategy for this size.</summary>
    public StrategyChoice Strategy { get; }

    /// <summary>The expected time with that strategy, from the throughput figures.</summary>
    public double EstimatedSeconds { get; }

    /// <summary>The session the advice belongs to.</summary>
    public ConfitureMigration Migration { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Schema}.{Table}: {Strategy}";
}
