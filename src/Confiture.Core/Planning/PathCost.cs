namespace Confiture.Core.Planning;

/// <summary>
/// What one path costs for one table, from timed samples of its first rows: a handful (the fixed
/// cost: statements, round trips, the stream's setup) and a larger one, whose time less the fixed
/// cost, per row, is the cost of a row. (The slope between two larger samples, which leaves out
/// what the first rows cost more, is the difference of two timings a tenth of a second apart:
/// on this two-core bench machine it put the same table's Copy anywhere from 0.5x to 1.8x its
/// real rate from one call to the next; the average stayed within 25 %.)
/// </summary>
/// <param name="StartupSeconds">The fixed cost of one load, from the handful of rows.</param>
/// <param name="SecondsPerRow">The cost of one more row of the sample's width.</param>
/// <param name="SampledRows">Rows of the larger sample.</param>
/// <param name="SampledSeconds">Time of the larger sample.</param>
internal sealed record PathCost(double StartupSeconds, double SecondsPerRow, long SampledRows, double SampledSeconds)
{
    /// <summary>
    /// The time for a table: the sample's time and its remaining rows at the row cost, scaled by how
    /// much wider its rows are than the sample's; a table no larger than the sample took exactly
    /// the sample's time.
    /// </summary>
    public double Estimate(long rows, double widthRatio) =>
        rows <= SampledRows ? SampledSeconds : SampledSeconds + ((rows - SampledRows) * SecondsPerRow * widthRatio);

    /// <param name="startupSeconds">Time of the handful of rows.</param>
    /// <param name="rows">Rows of the larger sample.</param>
    /// <param name="seconds">Its time.</param>
    public static PathCost From(double startupSeconds, long rows, double seconds) =>
        new(startupSeconds, rows > 0 ? Math.Max(0, seconds - startupSeconds) / rows : 0, rows, seconds);
}
