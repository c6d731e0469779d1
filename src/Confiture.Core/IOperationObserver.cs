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

/// <summary>Progress of one table's migration.</summary>
/// <param name="Table">The source table.</param>
/// <param name="RowsDone">Rows moved so far.</param>
/// <param name="RowsExpected">The planner's estimate of the total, when known.</param>
/// <param name="Elapsed">Time since the copy began.</param>
public sealed record MigrationProgress(string Table, long RowsDone, long? RowsExpected, TimeSpan Elapsed)
{
    /// <summary>Rows per second so far.</summary>
    public double RowsPerSecond => Elapsed.TotalSeconds > 0 ? RowsDone / Elapsed.TotalSeconds : 0;
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
