namespace Confiture.Core.Planning;

/// <summary>
/// What one path costs for one table, from two timed samples: a small one (nearly all fixed cost:
/// statements, round trips, the stream's setup) and a large one; the difference is the cost of rows.
/// </summary>
/// <param name="StartupSeconds">The fixed cost of one load, from the small sample.</param>
/// <param name="SecondsPerRow">The cost of one more row of the sample's width.</param>
/// <param name="SampledRows">Rows of the large sample.</param>
/// <param name="SampledSeconds">Time of the large sample.</param>
internal sealed record PathCost(double StartupSeconds, double SecondsPerRow, long SampledRows, double SampledSeconds)
{
    /// <summary>
    /// The time for a table: its rows at the sampled cost, scaled by how much wider its rows are
    /// than the sample's; a table no larger than the sample took exactly the sample's time.
    /// </summary>
    public double Estimate(long rows, double widthRatio) =>
        rows <= SampledRows ? SampledSeconds : StartupSeconds + (rows * SecondsPerRow * widthRatio);

    public static PathCost From(long smallRows, double smallSeconds, long largeRows, double largeSeconds)
    {
        // Drift on a shared machine can make the large sample look no slower than the small one:
        // the row cost is then taken from the large sample alone, never as zero or negative.
        var perRow = largeRows > smallRows && largeSeconds > smallSeconds
            ? (largeSeconds - smallSeconds) / (largeRows - smallRows)
            : largeRows > 0 ? largeSeconds / largeRows : 0;
        return new PathCost(Math.Max(0, smallSeconds - (smallRows * perRow)), perRow, largeRows, largeSeconds);
    }
}
