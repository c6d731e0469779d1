using Confiture.Core.Migration;

namespace Confiture.Core.Planning;

/// <summary>The thresholds and throughput figures the planner works from.</summary>
public sealed record StrategyOptions
{
    /// <summary>Tables with at least this many rows use COPY.</summary>
    public long CopyThreshold { get; init; } = 10_000_000;

    /// <summary>Expected rows per second through postgres_fdw.</summary>
    public double FdwRowsPerSecond { get; init; } = 500_000;

    /// <summary>Expected rows per second through COPY.</summary>
    public double CopyRowsPerSecond { get; init; } = 6_000_000;

    /// <summary>The strategy for a table of this many rows.</summary>
    public MigrationStrategy Choose(long rows) => rows >= CopyThreshold ? MigrationStrategy.Copy : MigrationStrategy.Fdw;

    /// <summary>The expected seconds to move that many rows with that strategy.</summary>
    public double EstimateSeconds(long rows, MigrationStrategy strategy) =>
        rows / (strategy == MigrationStrategy.Copy ? CopyRowsPerSecond : FdwRowsPerSecond);

    /// <summary>Checks the figures before use.</summary>
    public void Validate()
    {
        if (CopyThreshold < 0 || FdwRowsPerSecond <= 0 || CopyRowsPerSecond <= 0)
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument,
                "CopyThreshold must be zero or more, and the throughput figures above zero.");
        }
    }
}
