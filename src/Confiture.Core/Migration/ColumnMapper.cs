namespace Confiture.Core.Migration;

/// <summary>
/// Checks a column mapping against both catalogs before anything is written: every column exists,
/// no target column is written twice, and no NOT NULL target column is left without a value.
/// </summary>
internal static class ColumnMapper
{
    public static IReadOnlyList<MappedColumn> Resolve(
        string sourceTable, IReadOnlyList<TableColumn> source,
        string targetTable, IReadOnlyList<TableColumn> target,
        IReadOnlyList<ColumnPair>? mapping, bool forWrite = true)
    {
        var sourceByName = source.ToDictionary(c => c.Name, StringComparer.Ordinal);
        var targetByName = target.ToDictionary(c => c.Name, StringComparer.Ordinal);
        var pairs = mapping
            ?? source.Where(c => targetByName.TryGetValue(c.Name, out var t) && !t.Generated).Select(c => new ColumnPair(c.Name, c.Name)).ToList();

        if (pairs.Count == 0)
        {
            throw new ConfitureException(ConfitureErrorKind.EmptyColumnMapping,
                mapping is null
                    ? $"Tables \"{sourceTable}\" and \"{targetTable}\" have no column name in common."
                    : $"The column mapping for \"{sourceTable}\" is empty.",
                sourceTable, "Pass -ColumnMapping @{ source_column = 'target_column'; ... }.");
        }

        var mapped = new List<MappedColumn>(pairs.Count);
        var written = new HashSet<string>(StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            if (string.IsNullOrEmpty(pair.Source) || string.IsNullOrEmpty(pair.Target))
            {
                throw new ConfitureException(ConfitureErrorKind.InvalidArgument,
                    $"The column mapping for \"{sourceTable}\" has an empty column name.", sourceTable,
                    "Every key and value of -ColumnMapping must name a column.");
            }

            if (!sourceByName.TryGetValue(pair.Source, out var from))
            {
                throw NotFound(pair.Source, "source", sourceTable, source);
            }

            if (!targetByName.TryGetValue(pair.Target, out var to))
            {
                throw NotFound(pair.Target, "target", targetTable, target);
            }

            if (to.Generated && forWrite)
            {
                throw new ConfitureException(ConfitureErrorKind.InvalidArgument,
                    $"Column \"{pair.Target}\" of target table \"{targetTable}\" is generated and cannot be written.",
                    targetTable, $"Leave \"{pair.Target}\" out of the mapping; the target computes it.");
            }

            if (!written.Add(pair.Target))
            {
                throw new ConfitureException(ConfitureErrorKind.DuplicateTargetColumn,
                    $"Target column \"{pair.Target}\" of \"{targetTable}\" is mapped from more than one source column.",
                    targetTable, "Map each target column from one source column only.");
            }

            mapped.Add(new MappedColumn(from, to));
        }

        // Only a write needs a value for every NOT NULL column; a comparison reads what is there.
        var unfilled = target.Where(c => forWrite && c.RequiresValue && !written.Contains(c.Name)).Select(c => c.Name).ToList();
        if (unfilled.Count > 0)
        {
            throw new ConfitureException(ConfitureErrorKind.NotNullColumnUnmapped,
                $"Target column(s) {string.Join(", ", unfilled.Select(n => $"\"{n}\""))} of \"{targetTable}\" are NOT NULL without a default, and the mapping gives them no value.",
                targetTable, "Map a source column to each, or give them a default on the target.");
        }

        return mapped;
    }

    /// <summary>
    /// The pairs a map entry makes: every source column to the target column of its name (or its
    /// rename) unless excluded by name, and every target column fed unless allowed its default by
    /// name. Anything else is an error before a row is written, naming the columns and the entry
    /// that would fix it.
    /// </summary>
    public static IReadOnlyList<ColumnPair> PairsFromMap(
        string sourceTable, IReadOnlyList<TableColumn> source, string targetTable, IReadOnlyList<TableColumn> target, TableMap map, bool forWrite = true)
    {
        foreach (var name in map.Rename.Keys.Concat(map.Exclude).Where(n => source.All(c => c.Name != n)))
        {
            throw NotFound(name, "source", sourceTable, source);
        }

        foreach (var name in map.Rename.Values.Concat(map.Default).Where(n => target.All(c => c.Name != n)))
        {
            throw NotFound(name, "target", targetTable, target);
        }

        var pairs = new List<ColumnPair>();
        var lost = new List<string>();
        foreach (var column in source.Where(c => !map.Exclude.Contains(c.Name)))
        {
            var to = map.Rename.GetValueOrDefault(column.Name, column.Name);
            if (target.Any(t => t.Name == to && !t.Generated))
            {
                pairs.Add(new ColumnPair(column.Name, to));
            }
            else
            {
                lost.Add(column.Name);
            }
        }

        var fed = pairs.Select(p => p.Target).ToHashSet(StringComparer.Ordinal);
        var unfed = target.Where(t => !t.Generated && !fed.Contains(t.Name) && !map.Default.Contains(t.Name)).Select(t => t.Name).ToList();
        // A comparison covers what the map moves and reports the rest; only a write must account for every column.
        if (!forWrite || (lost.Count == 0 && unfed.Count == 0))
        {
            return pairs;
        }

        var problems = new List<string>();
        var fixes = new List<string>();
        foreach (var column in lost)
        {
            var near = NearestName(column, unfed, renamed: true);
            problems.Add($"source column \"{column}\" has no target column{(near is null ? string.Empty : $" (did you mean \"{near}\"?)")}");
            fixes.Add(near is null ? $"Exclude = '{column}'" : $"Rename = @{{ {column} = '{near}' }}");
        }

        foreach (var column in unfed.Where(u => lost.All(l => NearestName(l, unfed, renamed: true) != u)))
        {
            problems.Add($"target column \"{column}\" gets no value");
            fixes.Add($"Default = '{column}'");
        }

        throw new ConfitureException(ConfitureErrorKind.ColumnNotMapped,
            $"Migrating \"{sourceTable}\" into \"{targetTable}\" would lose data without a word: {string.Join("; ", problems)}.",
            sourceTable, $"Add to the map entry of \"{sourceTable}\": {string.Join("; ", fixes)} (or pass -ColumnMapping with every column to move).");
    }

    private static ConfitureException NotFound(string column, string side, string table, IReadOnlyList<TableColumn> columns)
    {
        var suggestion = NearestName(column, columns.Select(c => c.Name));
        var hint = suggestion is null ? string.Empty : $"; did you mean \"{suggestion}\"?";
        return new ConfitureException(ConfitureErrorKind.ColumnNotFound,
            $"No column \"{column}\" on the {side} table \"{table}\"{hint}",
            table, $"Columns of \"{table}\": {string.Join(", ", columns.Select(c => c.Name))}.");
    }

    /// <summary>The closest name within a small edit distance, ignoring case, or null.</summary>
    /// <param name="wanted">The name asked for.</param>
    /// <param name="names">The names there are.</param>
    /// <param name="renamed">
    /// Looking for what a column became in a new schema, where renames reword more than a typo does
    /// (return_date, returned_at): a wider distance is still a likely answer.
    /// </param>
    internal static string? NearestName(string wanted, IEnumerable<string> names, bool renamed = false)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var name in names)
        {
            var distance = EditDistance(wanted.ToLowerInvariant(), name.ToLowerInvariant());
            if (distance < bestDistance)
            {
                best = name;
                bestDistance = distance;
            }
        }

        return bestDistance <= (renamed ? Math.Max(3, wanted.Length / 3) : Math.Max(2, wanted.Length / 4)) ? best : null;
    }

    private static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitution, Math.Min(previous[j] + 1, current[j - 1] + 1));
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
