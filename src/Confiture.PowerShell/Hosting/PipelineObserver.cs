using System.Collections.Concurrent;
using Confiture.Core;

namespace Confiture.PowerShell.Hosting;

/// <summary>
/// Collects what the engine reports from its worker threads, for the cmdlet to write on the
/// pipeline thread (PowerShell allows Write* nowhere else).
/// </summary>
internal sealed class PipelineObserver : IOperationObserver
{
    private readonly BlockingCollection<object> _messages = [];

    public void Statement(string display, TimeSpan elapsed) =>
        _messages.Add(new VerboseMessage($"[{elapsed.TotalMilliseconds:0} ms] {display}"));

    public void Warning(string message) => _messages.Add(new WarningMessage(message));

    public void Progress(MigrationProgress progress) => _messages.Add(progress);

    public bool TryTake(out object? message, TimeSpan wait) => _messages.TryTake(out message, wait);

    internal sealed record VerboseMessage(string Text);

    internal sealed record WarningMessage(string Text);
}
