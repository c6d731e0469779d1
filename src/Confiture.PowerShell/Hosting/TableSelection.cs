using System.Management.Automation;
using Confiture.Core;
using Confiture.Core.Planning;

namespace Confiture.PowerShell.Hosting;

/// <summary>
/// Which tables a cmdlet's -Table and -ExcludeTable name: a wildcard matches the candidate tables
/// (the session's, which must already be filtered to tables: a session's views and materialized
/// views match no pattern); a plain name passes as given, for the engine to check and refuse.
/// </summary>
internal static class TableSelection
{
    /// <summary>The candidates a wildcard matches, in their order.</summary>
    public static IReadOnlyList<string> Match(string pattern, IEnumerable<string> candidates)
    {
        var wildcard = new WildcardPattern(pattern, WildcardOptions.CultureInvariant);
        return candidates.Where(wildcard.IsMatch).ToList();
    }

    /// <summary>A wildcard that matched no table: Confiture.TableNotFound, with the nearest name when there is one.</summary>
    public static ConfitureException NoMatch(string pattern, IReadOnlyCollection<string> candidates) =>
        new(ConfitureErrorKind.TableNotFound,
            $"No table of the session matches \"{pattern}\"{TableNames.DidYouMean(pattern, candidates)}.", pattern,
            candidates.Count == 0 ? "The session has no table: run Enable-ConfitureFdw with -Table." : $"The session's tables: {string.Join(", ", candidates)}.");

    /// <summary>
    /// The tables <paramref name="include"/> names (all the candidates when null), less those
    /// <paramref name="exclude"/> names, each once, in the order named. Wildcards that match nothing
    /// are returned as errors, and exclusions that remove nothing as warnings.
    /// </summary>
    public static (IReadOnlyList<string> Tables, IReadOnlyList<ConfitureException> Errors, IReadOnlyList<string> Warnings) Select(
        IReadOnlyList<string>? include, IReadOnlyList<string>? exclude, IReadOnlyList<string> candidates)
    {
        var errors = new List<ConfitureException>();
        var warnings = new List<string>();
        var tables = new List<string>();
        foreach (var name in include ?? candidates)
        {
            var matches = WildcardPattern.ContainsWildcardCharacters(name) ? Match(name, candidates) : [name];
            if (matches.Count == 0)
            {
                errors.Add(NoMatch(name, candidates));
            }

            tables.AddRange(matches.Where(m => !tables.Contains(m, StringComparer.Ordinal)));
        }

        foreach (var name in exclude ?? [])
        {
            var removed = WildcardPattern.ContainsWildcardCharacters(name) ? Match(name, tables) : tables.Where(t => t == name).ToList();
            if (removed.Count == 0)
            {
                warnings.Add($"-ExcludeTable \"{name}\" matches none of the tables selected{TableNames.DidYouMean(name, tables)}.");
            }

            tables.RemoveAll(removed.Contains);
        }

        return (tables, errors, warnings);
    }
}
