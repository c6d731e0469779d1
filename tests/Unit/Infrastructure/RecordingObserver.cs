using System.Collections.Concurrent;
using Confiture.Core;

namespace Confiture.Tests.Unit.Infrastructure;

/// <summary>Keeps what an operation reported, for assertions.</summary>
public sealed class RecordingObserver : IOperationObserver
{
    private readonly ConcurrentQueue<string> _statements = new();
    private readonly ConcurrentQueue<string> _warnings = new();
    private readonly ConcurrentQueue<MigrationProgress> _progress = new();

    public IReadOnlyCollection<string> Statements => _statements;

    public IReadOnlyCollection<string> Warnings => _warnings;

    public IReadOnlyCollection<MigrationProgress> ProgressReports => _progress;

    public Action<MigrationProgress>? OnProgress { get; init; }

    public void Statement(string display, TimeSpan elapsed) => _statements.Enqueue(display);

    public void Warning(string message) => _warnings.Enqueue(message);

    public void Progress(MigrationProgress progress)
    {
        _progress.Enqueue(progress);
        OnProgress?.Invoke(progress);
    }
}
