using System.Collections;
using System.Management.Automation;
using Confiture.Core;
using Confiture.Core.Migration;

namespace Confiture.PowerShell.Hosting;

/// <summary>
/// Reads a migration map from a hashtable or a .psd1 file, keyed by source table:
/// <c>@{ users = @{ Table = 'customers'; Schema = 'app'; Rename = @{ full_name = 'display_name' }; Exclude = 'legacy'; Default = 'created_at' } }</c>.
/// </summary>
internal static class MigrationMaps
{
    private static readonly string[] Keys = ["Table", "Schema", "Rename", "Exclude", "Default"];

    public static MigrationMap From(object value)
    {
        var map = value is PSObject wrapped ? wrapped.BaseObject : value;
        return map switch
        {
            IDictionary table => FromTable(table, "-Map"),
            string path => FromTable(Load(path), path),
            _ => throw Invalid("-Map takes a hashtable or the path of a .psd1 file.", "-Map"),
        };
    }

    private static IDictionary Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument, $"The map file \"{path}\" does not exist.", path,
                "Pass the path of a .psd1 file (relative paths are resolved from the current directory), or a hashtable.");
        }

        try
        {
            // The data-file reader runs no code from the file: only literals, as a map should hold.
            var read = ScriptBlock.Create("param($p) Import-PowerShellDataFile -LiteralPath $p").Invoke(path);
            return read.Count == 1 && read[0]?.BaseObject is IDictionary table
                ? table
                : throw Invalid($"The map file \"{path}\" does not hold one hashtable.", path);
        }
        catch (RuntimeException ex)
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument, $"The map file \"{path}\" cannot be read: {ex.Message}", path,
                "Fix the file: a .psd1 holding @{ source_table = @{ Rename = @{ old = 'new' } } }.", ex);
        }
    }

    private static MigrationMap FromTable(IDictionary map, string where)
    {
        var tables = new Dictionary<string, TableMap>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in map)
        {
            var source = Text(entry.Key, where, "a source table name");
            var body = (entry.Value is PSObject p ? p.BaseObject : entry.Value) as IDictionary
                ?? throw Invalid($"The map entry \"{source}\" in {where} is not a hashtable.", source);
            foreach (var key in body.Keys.Cast<object>().Select(k => Text(k, where, "a key")))
            {
                if (!Keys.Contains(key, StringComparer.OrdinalIgnoreCase))
                {
                    throw Invalid($"The map entry \"{source}\" in {where} has an unknown key \"{key}\"; the keys are {string.Join(", ", Keys)}.", source);
                }
            }

            tables[source] = new TableMap
            {
                TargetTable = Get(body, "Table") is { } t ? Text(t, where, "Table") : null,
                TargetSchema = Get(body, "Schema") is { } s ? Text(s, where, "Schema") : null,
                Rename = Get(body, "Rename") switch
                {
                    null => new Dictionary<string, string>(StringComparer.Ordinal),
                    PSObject { BaseObject: IDictionary r } => Renames(r, source, where),
                    IDictionary r => Renames(r, source, where),
                    _ => throw Invalid($"Rename of \"{source}\" in {where} must be a hashtable: @{{ old_name = 'new_name' }}.", source),
                },
                Exclude = Names(Get(body, "Exclude"), where, "Exclude"),
                Default = Names(Get(body, "Default"), where, "Default"),
            };
        }

        return new MigrationMap(tables);
    }

    private static object? Get(IDictionary body, string key) =>
        body.Keys.Cast<object>().FirstOrDefault(k => string.Equals(k?.ToString(), key, StringComparison.OrdinalIgnoreCase)) is { } found ? body[found] : null;

    private static Dictionary<string, string> Renames(IDictionary renames, string source, string where)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry rename in renames)
        {
            result[Text(rename.Key, where, $"a column of \"{source}\"")] = Text(rename.Value, where, $"the new name of a column of \"{source}\"");
        }

        return result;
    }

    private static string[] Names(object? value, string where, string key) => value switch
    {
        null => [],
        PSObject wrapped => Names(wrapped.BaseObject, where, key),
        string one => [Text(one, where, key)],
        IEnumerable many => [.. many.Cast<object?>().Select(n => Text(n, where, key))],
        _ => [Text(value, where, key)],
    };

    private static string Text(object? value, string where, string what)
    {
        var text = value is null ? null : LanguagePrimitives.ConvertTo<string>(value);
        return string.IsNullOrEmpty(text) ? throw Invalid($"{where} has an empty {what}.", where) : text;
    }

    private static ConfitureException Invalid(string message, string target) =>
        new(ConfitureErrorKind.InvalidArgument, message, target, "A map is @{ source_table = @{ Table = 'new_name'; Rename = @{ old = 'new' }; Exclude = 'col'; Default = 'col' } }.");
}
