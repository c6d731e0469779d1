using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using Confiture.Core.Connections;
using Confiture.PowerShell.Hosting;
using Confiture.PowerShell.Types;

namespace Confiture.PowerShell.Completion;

/// <summary>
/// What the schema and table completers share: finding the database from the command line typed so
/// far (or the runspace's last session), asking it with a short timeout, and quoting the names so
/// that the completed command parses. A completer runs on every Tab press: it never throws and
/// never makes the user wait long; when the database cannot answer in time it offers nothing.
/// </summary>
public abstract class CatalogCompleter : IArgumentCompleter
{
    /// <summary>How long a Tab press may wait for the server.</summary>
    internal static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    private protected CatalogCompleter()
    {
    }

    /// <summary>Which database of the session the names come from.</summary>
    private protected abstract Side Side { get; }

    /// <inheritdoc />
    public IEnumerable<CompletionResult> CompleteArgument(
        string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        try
        {
            var endpoint = FindEndpoint(fakeBoundParameters, out var migration);
            if (endpoint is null)
            {
                return [];
            }

            var prefix = Unquote(wordToComplete ?? string.Empty);
            var names = Fetch(endpoint, migration, fakeBoundParameters, prefix, out var where);
            return names.Select(name => new CompletionResult(Quote(name), name, CompletionResultType.ParameterValue, $"{name} ({where})")).ToList();
        }
#pragma warning disable CA1031 // A completer that throws breaks the user's Tab key; offering nothing is the right failure.
        catch (Exception)
#pragma warning restore CA1031
        {
            return [];
        }
    }

    /// <summary>Reads the names; <paramref name="where"/> describes their place for the tooltip.</summary>
    private protected abstract IReadOnlyList<string> Fetch(
        DatabaseEndpoint endpoint, ConfitureMigration? migration, IDictionary fakeBoundParameters, string prefix, out string where);

    /// <summary>Runs a catalog read, giving up (with nothing) after <see cref="Timeout"/>.</summary>
    private protected static IReadOnlyList<string> WithTimeout(Func<CancellationToken, Task<IReadOnlyList<string>>> read)
    {
        var cancellation = new CancellationTokenSource(Timeout);
        var task = Task.Run(() => read(cancellation.Token), cancellation.Token);
        // The read may outlive the wait (a server that does not answer); it is cancelled by the
        // timer and cleans up after itself, its failure observed so it never surfaces later.
        _ = task.ContinueWith(t =>
        {
            _ = t.Exception;
            cancellation.Dispose();
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return task.Wait(Timeout) ? task.Result : [];
    }

    /// <summary>The first parameter of <paramref name="names"/> bound to a non-empty string.</summary>
    private protected static string? BoundString(IDictionary fakeBoundParameters, params string[] names)
    {
        foreach (var name in names)
        {
            if (fakeBoundParameters.Contains(name) && Unwrap(fakeBoundParameters[name]) is { } value)
            {
                var text = value is IList { Count: > 0 } list ? Unwrap(list[0])?.ToString() : value.ToString();
                if (!string.IsNullOrEmpty(text))
                {
                    return text;
                }
            }
        }

        return null;
    }

    /// <summary>
    /// The database to read: the session given with -Migration, else the connection given with
    /// -Source or -Target (Enable-ConfitureFdw has no session yet), else the runspace's last session.
    /// </summary>
    private DatabaseEndpoint? FindEndpoint(IDictionary fakeBoundParameters, out ConfitureMigration? migration)
    {
        migration = Unwrap(fakeBoundParameters["Migration"]) as ConfitureMigration;
        var connectionParameter = Side == Side.Source ? "Source" : "Target";
        if (migration is null && Unwrap(fakeBoundParameters[connectionParameter]) is ConfitureConnection connection)
        {
            return connection.Endpoint;
        }

        migration ??= SessionRegistry.Last();
        return migration is null ? null : Side == Side.Source ? migration.Migrator.Source : migration.Migrator.Target;
    }

    private static object? Unwrap(object? value) => value is PSObject wrapped ? wrapped.BaseObject : value;

    /// <summary>What the user typed, without the quotes they may have opened.</summary>
    internal static string Unquote(string word)
    {
        if (word.Length == 0)
        {
            return word;
        }

        var first = word[0];
        if (IsSingleQuote(first))
        {
            var inner = word.Length > 1 && IsSingleQuote(word[^1]) ? word[1..^1] : word[1..];
            return inner.Replace("''", "'", StringComparison.Ordinal);
        }

        if (IsDoubleQuote(first))
        {
            var inner = word.Length > 1 && IsDoubleQuote(word[^1]) ? word[1..^1] : word[1..];
            return inner.Replace("\"\"", "\"", StringComparison.Ordinal).Replace("`", string.Empty, StringComparison.Ordinal);
        }

        return word;
    }

    /// <summary>The name as it must be typed: bare when PowerShell reads it back unchanged, else single-quoted.</summary>
    internal static string Quote(string name) =>
        name.Length > 0 && !name.Any(NeedsQuotes) && name[0] is not ('-' or '#' or '@')
            ? name
            : "'" + CodeGeneration.EscapeSingleQuotedStringContent(name) + "'";

    private static bool NeedsQuotes(char c) =>
        char.IsWhiteSpace(c) || char.IsControl(c) || IsSingleQuote(c) || IsDoubleQuote(c)
        || c is '`' or '$' or ';' or ',' or '(' or ')' or '{' or '}' or '[' or ']' or '|' or '&' or '<' or '>' or '@' or '#'
        // PowerShell reads the Unicode dashes as '-' at the start of a parameter name.
        or '\u2013' or '\u2014' or '\u2015';

    private static bool IsSingleQuote(char c) => c is '\'' or '\u2018' or '\u2019' or '\u201A' or '\u201B';

    private static bool IsDoubleQuote(char c) => c is '"' or '\u201C' or '\u201D' or '\u201E';
}

/// <summary>The two databases of a session.</summary>
internal enum Side
{
    /// <summary>The old database.</summary>
    Source,

    /// <summary>The new database.</summary>
    Target,
}
