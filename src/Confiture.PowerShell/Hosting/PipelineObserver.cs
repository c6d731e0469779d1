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
        Post(new VerboseMessage($"[{elapsed.TotalMilliseconds:0} ms] {display}"));

    public void Warning(string message) => Post(new WarningMessage(message));

    public void Progress(MigrationProgress progress) => Post(progress);

    /// <summary>Ends the stream once the work is done, so the pipeline thread wakes at once instead of polling.</summary>
    public void Complete() => _messages.CompleteAdding();

    /// <summary>Every message, as it arrives, until <see cref="Complete"/>.</summary>
    public IEnumerable<object> Messages() => _messages.GetConsumingEnumerable();

    /// <summary>Queues any other message for the pipeline thread (a run's group outcomes, say).</summary>
    public void Post(object message)
    {
        // A late report after the work finished has no one to read it; it is dropped.
        if (!_messages.IsAddingCompleted)
        {
            try
            {
                _messages.Add(message);
            }
            catch (InvalidOperationException)
            {
            }
        }
    }

    internal sealed record VerboseMessage(string Text);

    internal sealed record WarningMessage(string Text);
}
