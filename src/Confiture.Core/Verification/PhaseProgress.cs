using System.Diagnostics;

namespace Confiture.Core.Verification;

/// <summary>
/// Reports the phases of a comparison or a sync of one table: which phase, parts done of how many,
/// rows so far. Both servers' work advances it from their own threads; the lock keeps each report's
/// figures whole and the parts done rising.
/// </summary>
internal sealed class PhaseProgress(IOperationObserver observer, string table)
{
    private readonly object _gate = new();
    private readonly Stopwatch _clock = new();
    private string _phase = string.Empty;
    private string _parts = string.Empty;
    private long? _total;
    private long _done;
    private long _rows;

    /// <summary>A progress that reports nothing, for callers that have no table to report on.</summary>
    public static PhaseProgress None { get; } = new(NullObserver.Instance, string.Empty);

    /// <summary>Starts a phase and reports it at once, so a phase that cannot count its parts still shows what it does.</summary>
    public void Begin(string phase, long? total, string parts)
    {
        lock (_gate)
        {
            (_phase, _total, _parts, _done, _rows) = (phase, total, parts, 0, 0);
            _clock.Restart();
            Report();
        }
    }

    /// <summary>Adds parts done and rows, and reports.</summary>
    public void Advance(long parts, long rows)
    {
        lock (_gate)
        {
            // An estimated total (a table's blocks, read before the scan) may be passed by a table that grew.
            _done = _total is { } total ? Math.Min(total, _done + parts) : _done + parts;
            _rows += rows;
            Report();
        }
    }

    private void Report() =>
        observer.Progress(MigrationProgress.OfPhase(table, _phase, _done, _total, _parts, _rows, _clock.Elapsed));
}
