using System.Management.Automation;
using Confiture.Core;
using Confiture.PowerShell.Hosting;
using Confiture.PowerShell.Types;

namespace Confiture.PowerShell.Cmdlets;

/// <summary>
/// What every Confiture cmdlet shares: async engine calls run off the pipeline thread while this
/// thread writes their messages, Ctrl+C cancels them, and failures become ErrorRecords.
/// </summary>
public abstract class ConfitureCmdlet : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>Cancelled when the user presses Ctrl+C or the pipeline stops.</summary>
    private protected CancellationToken StopToken => _stopping.Token;

    /// <inheritdoc />
    protected override void StopProcessing() => _stopping.Cancel();

    /// <inheritdoc />
    public void Dispose()
    {
        _stopping.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Runs engine work to completion, writing its messages meanwhile; throws what it throws.</summary>
    /// <param name="work">The engine call, given the observer that queues its messages and the stop token.</param>
    /// <param name="onProgress">Writes a progress report.</param>
    /// <param name="onMessage">Handles any other message the work posted on the observer (<see cref="PipelineObserver.Post"/>).</param>
    private protected T Run<T>(Func<IOperationObserver, CancellationToken, Task<T>> work, Action<MigrationProgress>? onProgress = null, Action<object>? onMessage = null)
    {
        var observer = new PipelineObserver();
        var task = Task.Run(() => work(observer, _stopping.Token), _stopping.Token);
        task.ContinueWith(_ => observer.Complete(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        foreach (var message in observer.Messages())
        {
            Write(message, onProgress, onMessage);
        }

        try
        {
            return task.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
    }

    /// <summary>The session given, else the last one Enable-ConfitureFdw made in this runspace; none stops the call.</summary>
    private protected ConfitureMigration RequireSession(ConfitureMigration? given)
    {
        var migration = given ?? SessionRegistry.Last();
        if (migration is null)
        {
            ThrowTerminatingError(ErrorRecords.NoSession());
        }

        return migration!;
    }

    /// <summary>Whether a failure means the session itself is unusable (the call stops) rather than one table failing.</summary>
    private protected static bool BreaksSession(ConfitureException exception) =>
        exception.Kind is ConfitureErrorKind.ConnectionFailed or ConfitureErrorKind.AuthenticationFailed or ConfitureErrorKind.DatabaseNotFound;

    /// <summary>
    /// The usual guard around one unit of work: engine errors become ErrorRecords, terminating when
    /// asked or when the session itself broke, else reported and the pipeline goes on. The target
    /// object is the one the engine names (the table, schema or server at fault) when it names one,
    /// else <paramref name="target"/>, the input being worked on.
    /// </summary>
    private protected void Guard(Action action, object? target, bool terminating)
    {
        try
        {
            RejectNulCharacters();
            action();
        }
        catch (ConfitureException ex)
        {
            Report(ErrorRecords.From(ex, ex.Target ?? target), terminating || BreaksSession(ex));
        }
        catch (Exception ex) when (ex is not RuntimeException and not OperationCanceledException)
        {
            Report(ErrorRecords.Unexpected(ex, target), terminating);
        }
    }

    /// <summary>
    /// PostgreSQL stores a NUL character in no name and no text, so a NUL in any parameter can only
    /// be a mistake (or an attempt on a naive quoting): it is refused before a database is asked,
    /// instead of surfacing as a server encoding error halfway through.
    /// </summary>
    private void RejectNulCharacters()
    {
        foreach (var (name, value) in MyInvocation.BoundParameters)
        {
            foreach (var text in TextsOf(value))
            {
                if (!text.Contains('\0', StringComparison.Ordinal))
                {
                    continue;
                }

                // A connection string may hold a password: it is never echoed, not even as the target.
                var secret = name == "ConnectionString";
                throw new ConfitureException(
                    secret ? ConfitureErrorKind.InvalidConnectionString : ConfitureErrorKind.InvalidArgument,
                    $"-{name} contains a NUL character, which PostgreSQL allows in no name or value.",
                    secret ? "-" + name : text.Replace("\0", "\\0", StringComparison.Ordinal),
                    $"Remove the NUL character from -{name}.");
            }
        }
    }

    private static IEnumerable<string> TextsOf(object? value) => value switch
    {
        PSObject wrapped => TextsOf(wrapped.BaseObject),
        string text => [text],
        PSCredential credential => [credential.UserName],
        System.Collections.IDictionary mapping => mapping.Keys.Cast<object?>().Concat(mapping.Values.Cast<object?>()).SelectMany(TextsOf),
        System.Collections.IEnumerable items => items.Cast<object?>().SelectMany(TextsOf),
        _ => [],
    };

    private void Report(ErrorRecord record, bool terminating)
    {
        if (terminating)
        {
            ThrowTerminatingError(record);
        }

        WriteError(record);
    }

    private void Write(object? message, Action<MigrationProgress>? onProgress, Action<object>? onMessage)
    {
        switch (message)
        {
            case PipelineObserver.VerboseMessage verbose:
                WriteVerbose(verbose.Text);
                break;
            case PipelineObserver.WarningMessage warning:
                WriteWarning(warning.Text);
                break;
            case MigrationProgress progress:
                onProgress?.Invoke(progress);
                break;
            case { } other:
                onMessage?.Invoke(other);
                break;
        }
    }
}
