using Confiture.Core.Migration;

namespace Confiture.Core.Planning;

/// <summary>Names of tables as users type them: the near-name suggestion for one that matches nothing.</summary>
public static class TableNames
{
    /// <summary>
    /// The name among <paramref name="names"/> closest to <paramref name="wanted"/> (wildcard
    /// characters left out), within the edit distance column names use, or null.
    /// </summary>
    public static string? Nearest(string wanted, IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(wanted);
        var bare = new string(wanted.Where(c => c is not ('*' or '?' or '[' or ']')).ToArray());
        return bare.Length == 0 ? null : ColumnMapper.NearestName(bare, names);
    }

    /// <summary>" (did you mean "x"?)" when there is a near name, else nothing.</summary>
    public static string DidYouMean(string wanted, IEnumerable<string> names) =>
        Nearest(wanted, names) is { } near ? $" (did you mean \"{near}\"?)" : string.Empty;
}
