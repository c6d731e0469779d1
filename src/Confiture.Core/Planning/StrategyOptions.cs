using Confiture.Core.Migration;

namespace Confiture.Core.Planning;

/// <summary>
/// How the planner decides and estimates. Left as they are, it samples both paths on the servers
/// and picks the faster; the seed-style figures, when given, replace what they name.
/// </summary>
public sealed record StrategyOptions
{
    /// <summary>When given, decides by rows alone: tables with at least this many rows use COPY.</summary>
    public long? CopyThreshold { get; init; }

    /// <summary>When given, the Fdw estimate is rows / this figure instead of the sampled cost.</summary>
    public double? FdwRowsPerSecond { get; init; }

    /// <summary>When given, the Copy estimate is rows / this figure instead of the sampled cost.</summary>
    public double? CopyRowsPerSecond { get; init; }

    /// <summary>Most rows a timed sample moves through one path.</summary>
    public int SampleRows { get; init; } = 400_000;

    /// <summary>Most bytes (of source row data) a timed sample moves through one path.</summary>
    public long SampleBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Whether to time samples at all; without, the estimate comes from the sizes and the reference rates.</summary>
    public bool Sample { get; init; } = true;

    /// <summary>The strategy for a table of this many rows, by <see cref="CopyThreshold"/>.</summary>
    public MigrationStrategy ChooseByRows(long rows) => rows >= CopyThreshold ? MigrationStrategy.Copy : MigrationStrategy.Fdw;

    /// <summary>Checks the figures before use.</summary>
    public void Validate()
    {
        if (CopyThreshold < 0 || FdwRowsPerSecond <= 0 || CopyRowsPerSecond <= 0 || SampleRows < 2 || SampleBytes < 1)
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument,
                "CopyThreshold must be zero or more, the throughput figures above zero, and the sample at least two rows.");
        }
    }
}
