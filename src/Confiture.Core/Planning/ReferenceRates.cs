namespace Confiture.Core.Planning;

/// <summary>
/// The figures the planner falls back on where it cannot sample (no target table yet) and the costs
/// a sample cannot see, measured with bench/Invoke-Benchmark.ps1 (bench/RESULTS.md: 2 cores,
/// PostgreSQL 15, both servers on one machine).
/// </summary>
internal static class ReferenceRates
{
    /// <summary>Source bytes (pg_table_size) per second through Copy: 74-91 MB/s on the narrow and wide bench tables.</summary>
    public const double CopyBytesPerSecond = 80e6;

    /// <summary>Source bytes per second through Fdw: 34-41 MB/s on the same tables.</summary>
    public const double FdwBytesPerSecond = 37e6;

    /// <summary>The fixed cost of a Copy load besides its rows (a read snapshot, two streams to open), for a table that cannot be sampled.</summary>
    public const double CopyStartupSeconds = 0.02;

    /// <summary>The fixed cost of an Fdw load besides its rows (one statement on the target), for a table that cannot be sampled.</summary>
    public const double FdwStartupSeconds = 0.005;

    /// <summary>
    /// What a load runs besides its rows and the sample cannot see (the table lock, the record of its
    /// map, the sequences): about 10 ms a table in the whole-database bench.
    /// </summary>
    public const double TableSeconds = 0.01;
}
