using Confiture.Core.Connections;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Migration;

/// <summary>A sequence the load's target columns draw from, and every column on the target that draws from it.</summary>
/// <param name="Sequence">The sequence, schema-qualified and quoted.</param>
/// <param name="Descending">Whether it counts down (a negative increment): then it must end below the smallest value.</param>
/// <param name="Users">The integer and numeric columns of plain and partitioned tables whose values the sequence must not hand out again.</param>
internal sealed record SequenceLink(string Sequence, bool Descending, IReadOnlyList<SequenceUser> Users)
{
    /// <summary>For a read-only look (<c>forMove: false</c>): why this role cannot read where the sequence stands; null when it can.</summary>
    public string? Unreadable { get; init; }
}

/// <summary>Where a sequence stands.</summary>
/// <param name="Next">The value nextval would hand out next.</param>
/// <param name="Extreme">The largest value of every column that uses it (the smallest, for a descending one); null when they hold none or were not read.</param>
internal sealed record SequenceStanding(decimal Next, decimal? Extreme)
{
    /// <summary>Whether nextval hands out no value a column already holds.</summary>
    public bool AheadOfData(bool descending) => Extreme is not { } extreme || (descending ? Next < extreme : Next > extreme);
}

/// <summary>A column that takes its values from a sequence.</summary>
/// <param name="Table">The table, schema-qualified and quoted.</param>
/// <param name="Column">The column's name.</param>
/// <param name="Numeric">Whether it is numeric (legacy ids): its largest value is rounded up to a whole one.</param>
internal sealed record SequenceUser(string Table, string Column, bool Numeric = false);

/// <summary>
/// Finds the sequences a load must move: identity and OWNED BY sequences, and any sequence a column
/// default calls (<c>DEFAULT nextval('x_seq'::regclass)</c>, which older dumps and many schemas use
/// without OWNED BY), however many tables or partitions share it. A sequence moved only past this
/// table's values would hand out the values another table already holds.
/// </summary>
internal static class SequenceLinks
{
    /// <summary>
    /// nextval(('x_seq'::text)::regclass), as schemas carried over from PostgreSQL 8.0 and earlier
    /// still have: the name is looked up when the default runs, so no dependency records it.
    /// </summary>
    private const string TextNamedSequence = @"nextval\(\('((?:[^']|'')+)'::text\)::regclass\)";

    /// <summary>
    /// The sequences behind <paramref name="columns"/> (target columns the load writes). Columns the
    /// load leaves to their default are left out on purpose: they draw from the sequence while
    /// loading, so it is past their values already. Refuses, before any write, a sequence the role
    /// could not move or a sharing table it could not read.
    /// </summary>
    /// <param name="connection">An open connection to the target.</param>
    /// <param name="target">The target, for messages.</param>
    /// <param name="table">The target table.</param>
    /// <param name="columns">The target columns the load writes.</param>
    /// <param name="sourceTable">The source table, for messages.</param>
    /// <param name="observer">Told of a written column whose values the sequence cannot be moved past (text built from nextval, say).</param>
    /// <param name="cancellationToken">Stops the work.</param>
    /// <param name="forMove">False for a read-only look (the cutover gate): nothing is refused, a link the role cannot read says why in <see cref="SequenceLink.Unreadable"/>.</param>
    public static async Task<IReadOnlyList<SequenceLink>> FindAsync(
        NpgsqlConnection connection, DatabaseEndpoint target, uint table, IReadOnlyList<string> columns, string sourceTable,
        IOperationObserver observer, CancellationToken cancellationToken, bool forMove = true)
    {
        if (columns.Count == 0)
        {
            return [];
        }

        // pg_depend records two of the links: an attribute default depends on every sequence its
        // expression names (nextval('x'::regclass) stores x's OID), and an identity or OWNED BY
        // sequence depends on its column (what pg_get_serial_sequence reads). The third, a default
        // that names its sequence as text, is read from the expression, printed without its table
        // (pg_get_expr with a table locks it, and a default refers to no column). A partition carries a copy
        // of its parent's default, but its rows are read through the parent, so it is left out
        // when an ancestor's same-named column uses the same sequence.
        var rows = await SqlExecutor.ListAsync(connection,
            """
            WITH written AS (
              SELECT a.attnum FROM pg_attribute a
              WHERE a.attrelid = $1 AND a.attname = ANY ($2) AND a.attnum > 0 AND NOT a.attisdropped
            ),
            links AS (
              SELECT d.refobjid AS seq, ad.adrelid AS rel, ad.adnum AS attnum FROM pg_attrdef ad
              JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid AND d.refclassid = 'pg_class'::regclass
              UNION
              SELECT to_regclass(replace(m[1], '''''', '''')), x.adrelid, x.adnum
              FROM (SELECT ad.adrelid, ad.adnum, CASE WHEN a.attgenerated = '' THEN pg_get_expr(ad.adbin, 0) END AS expr
                    FROM pg_attrdef ad JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum) x,
                   regexp_matches(x.expr, $3, 'g') AS m
              UNION
              SELECT d.objid, d.refobjid, d.refobjsubid FROM pg_depend d JOIN pg_class c ON c.oid = d.objid AND c.relkind = 'S'
              WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0
            ),
            fed AS (SELECT l.seq FROM links l WHERE l.rel = $1 AND l.attnum IN (SELECT attnum FROM written)),
            users AS (SELECT l.seq, l.rel, l.attnum FROM links l WHERE l.seq IN (SELECT seq FROM fed))
            SELECT sn.nspname, s.relname, q.seqincrement < 0, tn.nspname, t.relname, a.attname,
                   has_sequence_privilege(s.oid, 'SELECT') AND has_sequence_privilege(s.oid, 'UPDATE'),
                   has_column_privilege(t.oid, a.attnum, 'SELECT'),
                   CASE WHEN base.oid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) THEN 'i' WHEN base.oid = 'numeric'::regtype THEN 'n' ELSE 'o' END,
                   t.oid = $1
            FROM users u
            JOIN pg_class s ON s.oid = u.seq AND s.relkind = 'S'
            JOIN pg_namespace sn ON sn.oid = s.relnamespace
            JOIN pg_sequence q ON q.seqrelid = s.oid
            JOIN pg_class t ON t.oid = u.rel AND t.relkind IN ('r', 'p')
            JOIN pg_namespace tn ON tn.oid = t.relnamespace
            JOIN pg_attribute a ON a.attrelid = u.rel AND a.attnum = u.attnum AND NOT a.attisdropped
            JOIN pg_type ty ON ty.oid = a.atttypid
            JOIN pg_type base ON base.oid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END
            WHERE NOT (t.relispartition AND EXISTS (
                SELECT 1 FROM users p JOIN pg_attribute pa ON pa.attrelid = p.rel AND pa.attnum = p.attnum
                WHERE p.seq = u.seq AND pa.attname = a.attname
                  AND p.rel IN (SELECT relid FROM pg_partition_ancestors(t.oid) WHERE relid <> t.oid)))
            ORDER BY 1, 2, 4, 5, 6
            """,
            r => (SequenceSchema: r.GetString(0), SequenceName: r.GetString(1), Descending: r.GetBoolean(2),
                TableSchema: r.GetString(3), TableName: r.GetString(4), Column: r.GetString(5), MayMove: r.GetBoolean(6), MayRead: r.GetBoolean(7),
                Kind: r.GetChar(8), Own: r.GetBoolean(9)),
            cancellationToken, table, columns.ToArray(), TextNamedSequence).ConfigureAwait(false);

        var links = new List<SequenceLink>();
        foreach (var all in rows.GroupBy(r => (r.SequenceSchema, r.SequenceName)))
        {
            var sequence = SqlText.Qualified(all.Key.SequenceSchema, all.Key.SequenceName);
            // Values such as 'INV-' || nextval(...) hold the sequence's numbers in a form no max() can read back.
            foreach (var opaque in all.Where(r => r.Kind == 'o' && r.Own && columns.Contains(r.Column)))
            {
                observer.Warning($"The default of column \"{opaque.Column}\" of {SqlText.Qualified(opaque.TableSchema, opaque.TableName)} calls the sequence {sequence}, " +
                    $"but its values are not numbers, so the sequence cannot be moved past the migrated ones: set it yourself after the load (SELECT setval('{sequence}', ...)).");
            }

            var group = all.Where(r => r.Kind != 'o').ToList();
            if (group.Count == 0)
            {
                continue;
            }

            var first = group.First();
            if (!forMove)
            {
                var hidden = group.Where(r => !r.MayRead).Select(r => $"{SqlText.Qualified(r.TableSchema, r.TableName)}.{SqlText.Identifier(r.Column)}").ToList();
                links.Add(new SequenceLink(sequence, first.Descending,
                    group.Select(r => new SequenceUser(SqlText.Qualified(r.TableSchema, r.TableName), r.Column, r.Kind == 'n')).ToList())
                {
                    Unreadable = hidden.Count > 0 ? $"role \"{target.Username}\" may not read {string.Join(", ", hidden)}, which draw(s) from it" : null,
                });
                continue;
            }

            if (!first.MayMove)
            {
                throw new ConfitureException(ConfitureErrorKind.PermissionDenied,
                    $"Role \"{target.Username}\" may not move the sequence {sequence} that the target columns of \"{sourceTable}\" draw from: it needs SELECT and UPDATE on it. Nothing was written.",
                    sourceTable, $"Grant SELECT, UPDATE ON SEQUENCE {sequence} to {SqlText.Identifier(target.Username)} on the target.");
            }

            var unreadable = group.Where(r => !r.MayRead).ToList();
            if (unreadable.Count > 0)
            {
                var names = string.Join(", ", unreadable.Select(r => $"{SqlText.Qualified(r.TableSchema, r.TableName)}.{SqlText.Identifier(r.Column)}"));
                throw new ConfitureException(ConfitureErrorKind.PermissionDenied,
                    $"The sequence {sequence} that \"{sourceTable}\" draws from is shared with {names}, which role \"{target.Username}\" may not read: " +
                    "the sequence must end past the values of every column that uses it. Nothing was written.",
                    sourceTable, $"Grant SELECT on {string.Join(", ", unreadable.Select(r => SqlText.Qualified(r.TableSchema, r.TableName)).Distinct())} to {SqlText.Identifier(target.Username)} on the target.");
            }

            links.Add(new SequenceLink(sequence, first.Descending,
                group.Select(r => new SequenceUser(SqlText.Qualified(r.TableSchema, r.TableName), r.Column, r.Kind == 'n')).ToList()));
        }

        return links;
    }

    /// <summary>
    /// Moves one sequence, in the load's transaction, past the values of every table that uses it
    /// and that no other transaction is replacing. A table another load is truncating or
    /// re-indexing (an ACCESS EXCLUSIVE lock, held or awaited) is not read: reading it would wait
    /// for that whole load, and when that load in turn reads this table both would wait for each
    /// other. Its own load moves the sequence past its values when it finishes, and a sequence only
    /// ever moves forward, so the sequence still ends past both.
    /// </summary>
    /// <summary>The value nextval hands out next, over <c>{sequence} s, pg_sequence q</c>.</summary>
    internal const string NextValue = "CASE WHEN s.is_called THEN s.last_value::numeric + q.seqincrement ELSE s.last_value END";

    /// <summary>The largest value of every column that uses the sequence (the smallest, for a descending one), as one expression.</summary>
    internal static string Extreme(SequenceLink link)
    {
        var (pick, aggregate) = link.Descending ? ("least", "min") : ("greatest", "max");
        var round = link.Descending ? "floor" : "ceil";
        var values = string.Join(", ", link.Users.Select(u => u.Numeric
            ? $"(SELECT {round}({aggregate}({SqlText.Identifier(u.Column)}))::bigint FROM {u.Table})"
            : $"(SELECT {aggregate}({SqlText.Identifier(u.Column)})::bigint FROM {u.Table})"));
        return $"{pick}({values})";
    }

    /// <summary>
    /// Where the sequence stands, read only; null when this role may not read it. With
    /// <paramref name="withData"/> also the extreme of its columns' values (the caller made sure they are readable).
    /// </summary>
    public static async Task<SequenceStanding?> StandingAsync(NpgsqlConnection connection, SequenceLink link, bool withData, CancellationToken cancellationToken)
    {
        // Checked first: a sequence the role may not read fails the whole statement, not one value.
        if (!await SqlExecutor.ScalarAsync<bool>(connection, "SELECT has_sequence_privilege($1::regclass, 'SELECT')", cancellationToken, link.Sequence).ConfigureAwait(false))
        {
            return null;
        }

        var rows = await SqlExecutor.ListAsync(connection,
            $"SELECT {NextValue}, {(withData ? Extreme(link) : "NULL::bigint")}::numeric FROM {link.Sequence} s, pg_sequence q WHERE q.seqrelid = $1::regclass",
            r => new SequenceStanding(r.GetDecimal(0), r.IsDBNull(1) ? null : r.GetDecimal(1)), cancellationToken, link.Sequence).ConfigureAwait(false);
        return rows[0];
    }

    public static async Task MoveAsync(NpgsqlConnection connection, string ownTable, SequenceLink link, IOperationObserver observer, CancellationToken cancellationToken)
    {
        var others = link.Users.Select(u => u.Table).Where(t => t != ownTable).Distinct(StringComparer.Ordinal).ToArray();
        var busy = others.Length == 0
            ? []
            : await SqlExecutor.ListAsync(connection,
                """
                SELECT t FROM unnest($1::text[]) AS t
                WHERE EXISTS (SELECT 1 FROM pg_locks l
                              WHERE l.locktype = 'relation' AND l.relation = to_regclass(t) AND l.mode = 'AccessExclusiveLock'
                                AND l.pid <> pg_backend_pid()
                                AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database()))
                """,
                r => r.GetString(0), cancellationToken, (object)others).ConfigureAwait(false);
        foreach (var table in busy)
        {
            observer.Warning($"The sequence {link.Sequence} was moved without reading {table}, which shares it: another transaction holds it locked (a load replacing it, or DDL). " +
                $"A Confiture load of {table} moves the sequence past its values itself; otherwise run this migration again once that transaction has ended.");
        }

        var readable = link with { Users = link.Users.Where(u => !busy.Contains(u.Table, StringComparer.Ordinal)).ToList() };
        if (readable.Users.Count == 0)
        {
            return;
        }

        try
        {
            await SqlExecutor.ExecuteAsync(connection, MigrationPlan.MoveSequence(readable), observer, cancellationToken, link.Sequence).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.NumericValueOutOfRange)
        {
            // Said as what it is: no source value failed to fit, the sequence's own limit is too small for them.
            throw new ConfitureException(ConfitureErrorKind.MigrationFailed,
                $"The sequence {link.Sequence} cannot be moved past the migrated values of {string.Join(", ", readable.Users.Select(u => $"{u.Table}.{SqlText.Identifier(u.Column)}").Distinct())}: " +
                $"{ex.MessageText}. New rows would get no id, so the load was undone: the target table is as it was.",
                ownTable, $"Widen the sequence on the target (ALTER SEQUENCE {link.Sequence} AS bigint MAXVALUE ..., or MINVALUE for a descending one), then run the migration again.", ex);
        }
    }
}
