using System.Text;
using Confiture.Core.Migration;
using Confiture.Core.Sql;
using Npgsql;
using NpgsqlTypes;

namespace Confiture.Core.Stream;

/// <summary>
/// One target table the stream writes, through the map it was migrated with: which column of the
/// source's relation feeds which target column, converted by the copy's own rule, and how a row is
/// found again by the source's replica identity. Built from the catalogs at the start, and checked
/// against every relation message the source sends: a table that changed shape stops the stream.
/// </summary>
internal sealed class StreamedTable(MigratedMap map, IReadOnlyList<MappedColumn> columns, IReadOnlyList<SequenceLink> sequences)
{
    private string? _insert;
    private string? _delete;
    private string? _update;
    private int[] _positions = [];
    private int[] _keyPositions = [];
    private bool _full;

    public MigratedMap Map { get; } = map;

    public string QualifiedTarget => SqlText.Qualified(Map.TargetSchema, Map.TargetTable);

    public string Describe => $"{Map.SourceSchema}.{Map.SourceTable} -> {Map.TargetSchema}.{Map.TargetTable}";

    /// <summary>The sequences the written columns draw from: moved past the streamed values, as after a copy.</summary>
    public IReadOnlyList<SequenceLink> Sequences { get; } = sequences;

    /// <summary>Whether the batch under way wrote values a sequence may have to move past.</summary>
    public bool Written { get; set; }

    public long Inserted { get; set; }

    public long Updated { get; set; }

    public long Deleted { get; set; }

    public long Truncated { get; set; }

    /// <summary>
    /// The value of a change, sent as text, as the target reads it: the same conversion the copy
    /// applies (<see cref="MappedColumn.Conversion"/>), under the same conversion settings, which the
    /// source's WAL sender printed the value with. No type modifier: the target applies its own by
    /// assignment, refusing what does not fit instead of cutting it.
    /// </summary>
    internal static string ValueExpression(MappedColumn column, string parameter) => column.Conversion switch
    {
        ConversionKind.None => $"{parameter}::{column.Target.Shape.BaseQualifiedName}",
        ConversionKind.Cast when column.Source.Shape.BaseCastName is { } from => $"{parameter}::{from}::{column.Target.Shape.BaseCastName}",
        ConversionKind.Cast => $"{parameter}::{column.Target.Shape.BaseCastName}",
        _ => $"{parameter}::{column.Target.Shape.BaseQualifiedName}",
    };

    /// <summary>Checks a relation message against the map and plans the statements by its column positions.</summary>
    public void Bind(StreamItem.Relation relation)
    {
        // The map names every source column it moved or left behind: any other is new since the migration.
        var excluded = Map.Excluded.ToHashSet(StringComparer.Ordinal);
        var mapped = columns.ToDictionary(c => c.Source.Name, StringComparer.Ordinal);
        var byName = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < relation.Columns.Count; i++)
        {
            var column = relation.Columns[i];
            byName[column.Name] = i;
            if (excluded.Contains(column.Name))
            {
                continue;
            }

            if (!mapped.TryGetValue(column.Name, out var pair))
            {
                throw Changed($"it has a new column \"{column.Name}\" that the map of {Map.TargetSchema}.{Map.TargetTable} does not name");
            }

            // The conversion was worked out for the column's type: another type needs another rule.
            // A domain's column sends no modifier of its own (-1): the domain's is in the shape.
            if (pair.Source.TypeOid != column.TypeOid || (column.Typmod != -1 && column.Typmod != pair.Source.Shape.Typmod))
            {
                throw Changed($"column \"{column.Name}\" changed type (the map converts it as {pair.Source.TypeName})");
            }
        }

        _positions = new int[columns.Count];
        for (var i = 0; i < columns.Count; i++)
        {
            if (!byName.TryGetValue(columns[i].Source.Name, out _positions[i]))
            {
                throw Changed($"column \"{columns[i].Source.Name}\", which the map writes to \"{columns[i].Target.Name}\", is not in its changes any more");
            }
        }

        _full = relation.FullIdentity;
        var keys = _full ? relation.Columns.Select((c, i) => i).ToList() : relation.Columns.Select((c, i) => (c, i)).Where(p => p.c.IsKey).Select(p => p.i).ToList();
        if (!_full)
        {
            var unmapped = keys.Where(k => !_positions.Contains(k)).Select(k => relation.Columns[k].Name).ToList();
            if (keys.Count == 0 || unmapped.Count > 0)
            {
                throw new ConfitureException(ConfitureErrorKind.ChangeStreamFailed,
                    $"The change stream cannot find rows of {Describe} again on the target: {(keys.Count == 0 ? "the source sends no key" : $"its key column(s) {string.Join(", ", unmapped.Select(u => $"\"{u}\""))} are excluded by the map")}.",
                    Map.SourceTable, "Migrate the table with its key columns mapped, or set REPLICA IDENTITY FULL on the source table.");
            }
        }

        _keyPositions = [.. keys];
        var target = QualifiedTarget;
        var list = string.Join(", ", columns.Select(c => SqlText.Identifier(c.Target.Name)));
        var values = string.Join(", ", columns.Select((c, i) => ValueExpression(c, $"${i + 1}")));
        _insert = $"INSERT INTO {target} ({list}) VALUES ({values})";
        _delete = $"DELETE FROM {target} WHERE {Where(0)}";
        _update = null;
    }

    public bool IsBound => _insert is not null;

    public NpgsqlBatchCommand Insert(StreamItem.Row row)
    {
        var command = new NpgsqlBatchCommand(_insert!);
        foreach (var position in _positions)
        {
            command.Parameters.Add(Text(row.New![position]));
        }

        Inserted++;
        Written = true;
        return command;
    }

    public NpgsqlBatchCommand Update(StreamItem.Row row)
    {
        // A column TOASTed and left unchanged is not sent: it keeps its value on the target too.
        var set = Enumerable.Range(0, columns.Count).Where(i => !row.Unchanged![_positions[i]]).ToList();
        string sql;
        if (set.Count == columns.Count)
        {
            _update ??= Build(set);
            sql = _update;
        }
        else
        {
            sql = Build(set);
        }

        var command = new NpgsqlBatchCommand(sql);
        foreach (var i in set)
        {
            command.Parameters.Add(Text(row.New![_positions[i]]));
        }

        AddKey(command, row.Old ?? row.New!);
        Updated++;
        Written = true;
        return command;

        string Build(List<int> changed)
        {
            var assignments = changed.Select((c, n) => $"{SqlText.Identifier(columns[c].Target.Name)} = {ValueExpression(columns[c], $"${n + 1}")}");
            return $"UPDATE {QualifiedTarget} SET {string.Join(", ", assignments)} WHERE {Where(changed.Count)}";
        }
    }

    public NpgsqlBatchCommand Delete(StreamItem.Row row)
    {
        var command = new NpgsqlBatchCommand(_delete!);
        AddKey(command, row.Old!);
        Deleted++;
        return command;
    }

    public NpgsqlBatchCommand Truncate()
    {
        Truncated++;
        return new NpgsqlBatchCommand($"TRUNCATE {QualifiedTarget}");
    }

    /// <summary>The key's condition, its parameters numbered after <paramref name="offset"/>.</summary>
    private string Where(int offset)
    {
        var conditions = new StringBuilder();
        var n = offset;
        foreach (var key in KeyColumns())
        {
            if (conditions.Length > 0)
            {
                conditions.Append(" AND ");
            }

            n++;
            var column = columns[key];
            conditions.Append(_full
                ? $"{SqlText.Identifier(column.Target.Name)} IS NOT DISTINCT FROM {ValueExpression(column, $"${n}")}"
                : $"{SqlText.Identifier(column.Target.Name)} = {ValueExpression(column, $"${n}")}");
        }

        // Without a key, one of the identical rows is enough: the source changed one.
        return _full ? $"ctid = (SELECT ctid FROM {QualifiedTarget} WHERE {conditions} LIMIT 1)" : conditions.ToString();
    }

    /// <summary>The mapped columns (by index) that find a row: the key's, or every mapped column with REPLICA IDENTITY FULL.</summary>
    private IEnumerable<int> KeyColumns() =>
        Enumerable.Range(0, columns.Count).Where(i => _keyPositions.Contains(_positions[i]));

    private void AddKey(NpgsqlBatchCommand command, string?[] values)
    {
        foreach (var i in KeyColumns())
        {
            command.Parameters.Add(Text(values[_positions[i]]));
        }
    }

    private static NpgsqlParameter Text(string? value) => new() { NpgsqlDbType = NpgsqlDbType.Text, Value = (object?)value ?? DBNull.Value };

    private ConfitureException Changed(string what) => new(ConfitureErrorKind.ChangeStreamSchemaChanged,
        $"The change stream stopped at a change of table \"{Map.SourceSchema}.{Map.SourceTable}\" on the source: {what}. Nothing of the batch under way was applied.",
        Map.SourceTable,
        $"Change {Map.TargetSchema}.{Map.TargetTable} and its map to match, migrate the table again (Remove-ConfitureFdw, then set up the session anew), or undo the change on the source.");
}
