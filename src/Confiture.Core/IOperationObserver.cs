namespace Confiture.Core;

/// <summary>
/// What an operation reports while it runs. Calls may come from any thread; a PowerShell host
/// queues them and writes them on its pipeline thread.
/// </summary>
public interface IOperationObserver
{
    /// <summary>A statement ran (its display text: secrets redacted) and how long it took.</summary>
    void Statement(string display, TimeSpan elapsed);

    /// <summary>Something the user should know that is not an error.</summary>
    void Warning(string message);

    /// <summary>Rows moved so far in a long operation.</summary>
    void Progress(MigrationProgress progress);
}

/// <summary>
/// Progress of one table's migration, sync or comparison. A load reports rows moved; work that goes
/// through phases (a sync, a checksum) also names its phase and how many of its parts are done.
/// </summary>
/// <param name="Table">The source table.</param>
/// <param name="RowsDone">Rows moved so far (in a phase: rows hashed, or rows rewritten).</param>
/// <param name="RowsExpected">The planner's estimate of the total, when known.</param>
/// <param name="Elapsed">Time since the copy (or the phase) began.</param>
public sealed record MigrationProgress(string Table, long RowsDone, long? RowsExpected, TimeSpan Elapsed)
{
    /// <summary>Rows per second so far.</summary>
    public double RowsPerSecond => Elapsed.TotalSeconds > 0 ? RowsDone / Elapsed.TotalSeconds : 0;

    /// <summary>What the work is doing, in words ("hashing both tables"); null for a load, which only moves rows.</summary>
    public string? Phase { get; init; }

    /// <summary>Parts of the phase done so far (blocks hashed, key ranges narrowed or rewritten).</summary>
    public long PartsDone { get; init; }

    /// <summary>Parts the phase has in all; null when it cannot tell (then only the phase and rows are known).</summary>
    public long? PartsTotal { get; init; }

    /// <summary>What a part is, in words ("blocks", "key ranges").</summary>
    public string? Parts { get; init; }

    /// <summary>A report of a phase: what it is, parts done of how many, rows so far, time since the phase began.</summary>
    public static MigrationProgress OfPhase(string table, string phase, long partsDone, long? partsTotal, string parts, long rows, TimeSpan elapsed) =>
        new(table, rows, null, elapsed) { Phase = phase, PartsDone = partsDone, PartsTotal = partsTotal, Parts = parts };
}

/// <summary>An observer that ignores everything.</summary>
public sealed class NullObserver : IOperationObserver
{
    /// <summary>The one instance.</summary>
    public static readonly NullObserver Instance = new();

    private NullObserver()
    {
    }

    /// <inheritdoc />
    public void Statement(string display, TimeSpan elapsed)
    {
    }

    /// <inheritdoc />
    public void Warning(string message)
    {
    }

    /// <inheritdoc />
    public void Progress(MigrationProgress progress)
    {
    }
}
