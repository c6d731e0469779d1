using System.Collections;
using System.Management.Automation;
using Confiture.Core;
using Confiture.Core.Migration;

namespace Confiture.PowerShell.Hosting;

/// <summary>Reads a -ColumnMapping hashtable or ordered dictionary (source column -> target column).</summary>
internal static class ColumnMappings
{
    public static List<ColumnPair> ToPairs(IDictionary mapping, string table)
    {
        var pairs = new List<ColumnPair>(mapping.Count);
        foreach (DictionaryEntry entry in mapping)
        {
            var from = LanguagePrimitives.ConvertTo<string>(entry.Key);
            var to = entry.Value is null ? null : LanguagePrimitives.ConvertTo<string>(entry.Value);
            if (string.IsNullOrEmpty(from) || string.IsNullOrEmpty(to))
            {
                throw new ConfitureException(ConfitureErrorKind.InvalidArgument,
                    $"-ColumnMapping for \"{table}\" has an empty or null column name{(string.IsNullOrEmpty(from) ? string.Empty : $" for \"{from}\"")}.",
                    table, "Every key and value of -ColumnMapping must name a column: @{ source_column = 'target_column' }.");
            }

            pairs.Add(new ColumnPair(from, to));
        }

        return pairs;
    }
}
