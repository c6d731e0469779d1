using Confiture.Core.Sql;

namespace Confiture.Core.Migration;

/// <summary>
/// Everything worked out from the catalogs before a table's first write: the checked columns, the
/// statements to run and, for a COPY, the SELECT that reads the source.
/// </summary>
internal sealed record MigrationPlan(
    TableMigrationRequest Request,
    MigrationStrategy Strategy,
    string SourceSchema,
    string TargetTable,
    string QualifiedTarget,
    char TargetKind,
    IReadOnlyList<MappedColumn> Columns,
    DeferredIndexes? Deferred,
    IReadOnlyList<SequenceLink> Sequences,
    uint TargetOid,
    ConversionSettings Settings)
{
    /// <summary>Arrays of user types and composites carry server-specific type OIDs in binary: text is portable.</summary>
    public bool Binary => !Columns.Any(c => c.NeedsText);

    /// <summary>Target columns the load gives no value: they take their default (generated ones are computed).</summary>
    public IReadOnlyList<string> Defaulted { get; init; } = [];

    /// <summary>Source columns the load does not move.</summary>
    public IReadOnlyList<string> Excluded { get; init; } = [];

    public string QualifiedSource => SqlText.Qualified(SourceSchema, Request.SourceTable);

    public string TargetColumnList => SqlText.IdentifierList(Columns.Select(c => c.Target.Name));

    /// <summary>The source rows as the target expects them, optionally limited to one part of the table.</summary>
    public string SourceSelect(string? where = null) =>
        $"SELECT {string.Join(", ", Columns.Select(c => c.SourceSideExpression))} FROM {QualifiedSource}{(where is null ? string.Empty : " WHERE " + where)}";

    public string ExportSql(string? where = null) => $"COPY ({SourceSelect(where)}) TO STDOUT (FORMAT {(Binary ? "binary" : "text")})";

    /// <summary>Whether the load's COPY writes its rows frozen: Copy into a plain table truncated in the load's own transaction (one part).</summary>
    public bool LoadsFrozen => Strategy == MigrationStrategy.Copy && Request.Truncate && TargetKind == 'r' && Request.Parallel <= 1;

    /// <summary>FREEZE only where PostgreSQL allows it: a plain table emptied in this same transaction.</summary>
    public string ImportSql(bool freeze) =>
        $"COPY {QualifiedTarget} ({TargetColumnList}) FROM STDIN (FORMAT {(Binary ? "binary" : "text")}{(freeze && TargetKind == 'r' ? ", FREEZE" : string.Empty)})";

    public string InsertSql(string foreignSchema, string? where = null)
    {
        // One statement: the target server pulls the rows itself, in one remote REPEATABLE READ snapshot.
        var overriding = Columns.Any(c => c.Target.Identity == 'a') ? " OVERRIDING SYSTEM VALUE" : string.Empty;
        return $"INSERT INTO {QualifiedTarget} ({TargetColumnList}){overriding} " +
               $"SELECT {string.Join(", ", Columns.Select(c => c.TargetSideExpression))} FROM {SqlText.Qualified(foreignSchema, Request.SourceTable)}" +
               (where is null ? string.Empty : " WHERE " + where);
    }

    public SqlStatement EmptyCheck => SqlStatement.Plain($"SELECT EXISTS (SELECT 1 FROM {QualifiedTarget})");

    public SqlStatement Truncate => SqlStatement.Plain($"TRUNCATE {QualifiedTarget}");

    /// <summary>
    /// Moves the sequence past every value of every column that uses it (below, for a descending
    /// one), and only ever forward: it may already be further (appended rows, another table's
    /// load), and a sequence never called yet may start beyond the values.
    /// </summary>
    public static SqlStatement MoveSequence(SequenceLink link)
    {
        var comparison = link.Descending ? "<=" : ">=";
        return SqlStatement.Plain(
            $"SELECT setval($1::regclass, v.m) FROM (SELECT {SequenceLinks.Extreme(link)} AS m) v, {link.Sequence} s, pg_sequence q " +
            $"WHERE q.seqrelid = $1::regclass AND v.m IS NOT NULL " +
            $"AND v.m {comparison} {SequenceLinks.NextValue}");
    }

    /// <summary>Every statement the migration runs on either server, in order, for -WhatIf and -Verbose.</summary>
    public IReadOnlyList<string> Describe(string foreignSchema)
    {
        var statements = new List<string>(Deferred?.Drops.Select(d => d.Display) ?? []);
        if (Request.Truncate)
        {
            statements.Add(Truncate.Display);
        }
        else if (!Request.Append)
        {
            statements.Add(EmptyCheck.Display + " -- refuses a target that holds rows");
        }

        if (Strategy == MigrationStrategy.Fdw)
        {
            statements.Add(InsertSql(foreignSchema));
            statements.Add("-- run as one INSERT per range of about 100,000 keys when the source has a single-column integer primary key " +
                           "(in this transaction and one remote snapshot), reporting progress after each");
        }
        else
        {
            statements.Add(ExportSql() + " -- on the source, REPEATABLE READ READ ONLY");
            statements.Add(ImportSql(Request.Truncate));
        }

        statements.AddRange(Deferred?.Rebuilds.Select(d => d.Display) ?? []);
        if (!Request.SkipAnalyze)
        {
            statements.Add(TableStatistics.Analyze(QualifiedTarget).Display + " -- in the load's transaction, after its indexes");
        }

        statements.AddRange(Sequences.Select(s => MoveSequence(s).Display.Replace("$1", SqlText.Literal(s.Sequence), StringComparison.Ordinal)));
        statements.Add($"-- conversions run under the target's settings: {Settings}");
        statements.AddRange(Columns.Where(c => c.Conversion != ConversionKind.None).Select(c => $"-- {c.Pair}: {c.Describe()}"));
        return statements;
    }
}
