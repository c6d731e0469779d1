namespace Confiture.Core.Planning;

/// <summary>
/// What one path costs for one table, from timed samples of its first rows: a handful (the fixed
/// cost: statements, round trips, the stream's setup), and two larger ones, of n/2 and n rows. The
/// first rows of a load cost more each than the later ones (caches, buffers, the pipeline between
/// the two servers filling up), so the cost of more rows is the slope between the two larger
/// samples, not their average.
/// </summary>
/// <param name="StartupSeconds">The fixed cost of one load, from the handful of rows.</param>
/// <param name="SecondsPerRow">The cost of one more row of the sample's width.</param>
/// <param name="SampledRows">Rows of the largest sample.</param>
/// <param name="SampledSeconds">Time of the largest sample.</param>
internal sealed record PathCost(double StartupSeconds, double SecondsPerRow, long SampledRows, double SampledSeconds)
{
    /// <summary>
    /// The time for a table: the largest sample's time and its remaining rows at the marginal cost,
    /// scaled by how much wider its rows are than the sample's; a table no larger than the sample
    /// took exactly the sample's time.
    /// </summary>
    public double Estimate(long rows, double widthRatio) =>
        rows <= SampledRows ? SampledSeconds : SampledSeconds + ((rows - SampledRows) * SecondsPerRow * widthRatio);

    /// <param name="startupSeconds">Time of the handful of rows.</param>
    /// <param name="halfRows">Rows of the middle sample.</param>
    /// <param name="halfSeconds">Its time.</param>
    /// <param name="rows">Rows of the largest sample.</param>
    /// <param name="seconds">Its time.</param>
    public static PathCost From(double startupSeconds, long halfRows, double halfSeconds, long rows, double seconds)
    {
        // The slope is the difference of two timings, and drift on a shared machine moves each: it
        // is kept between half the largest sample's average cost per row and that average (a later
        // row costs no more than the first ones did, and not much less).
        var average = rows > 0 ? Math.Max(0, seconds - startupSeconds) / rows : 0;
        var slope = rows > halfRows ? (seconds - halfSeconds) / (rows - halfRows) : average;
        return new PathCost(startupSeconds, Math.Clamp(slope, average / 2, average), rows, seconds);
    }
}
