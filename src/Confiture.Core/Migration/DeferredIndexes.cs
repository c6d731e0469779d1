using System.Globalization;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Migration;

/// <summary>
/// The target table's indexes and key constraints, captured as the server prints them, so a load
/// can run without index maintenance and then rebuild them exactly. Foreign keys that point at the
/// table (its own included) go first and come back last, since they hang on its unique indexes;
/// the table's keys to its parents go too, so each is checked once over the loaded rows.
/// What pg_get_indexdef leaves out comes back too: the index's tablespace, the CLUSTER mark, the
/// replica identity, comments and per-column statistics targets. A constraint's NOT VALID and
/// DEFERRABLE state is part of pg_get_constraintdef. Dropped and rebuilt inside the load's
/// transaction, a failure restores them with the rollback; where the drops must commit first
/// (parallel parts), <see cref="DeferredJournal"/> keeps the definitions on the target.
/// </summary>
/// <param name="Definitions">In rebuild order: indexes, then the table's keys, then the foreign keys pointing at it, then its keys to its parents.</param>
/// <param name="Drops">In the order that frees each definition from what hangs on it: foreign keys, keys, indexes.</param>
internal sealed record DeferredIndexes(IReadOnlyList<DeferredDefinition> Definitions, IReadOnlyList<SqlStatement> Drops)
{
    public bool IsEmpty => Definitions.Count == 0;

    public IReadOnlyList<SqlStatement> Rebuilds => Definitions.SelectMany(d => d.Restore).ToList();

    /// <param name="connection">A target connection.</param>
    /// <param name="table">The target table.</param>
    /// <param name="cancellationToken">Stops the work.</param>
    /// <param name="runKeys">Foreign keys (table as format('%I.%I') prints it, and name) that the table's run drops and adds back itself: left out.</param>
    public static async Task<DeferredIndexes> CaptureAsync(NpgsqlConnection connection, uint table, CancellationToken cancellationToken, IReadOnlySet<(string Table, string Name)>? runKeys = null)
    {
        var qualifiedTable = await SqlExecutor.ScalarAsync<string>(connection,
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1",
            cancellationToken, table).ConfigureAwait(false) ?? throw new InvalidOperationException($"No table with OID {table}.");
        var indexes = await SqlExecutor.ListAsync(connection,
            """
            SELECT i.indexrelid, format('%I.%I', n.nspname, ic.relname), ic.relname, pg_get_indexdef(i.indexrelid), t.spcname,
                   i.indisclustered, i.indisreplident, obj_description(i.indexrelid, 'pg_class'),
                   coalesce(array(SELECT a.attnum::int FROM pg_attribute a
                                  WHERE a.attrelid = i.indexrelid AND coalesce(a.attstattarget::int, -1) >= 0 ORDER BY a.attnum), '{}'),
                   coalesce(array(SELECT a.attstattarget::int FROM pg_attribute a
                                  WHERE a.attrelid = i.indexrelid AND coalesce(a.attstattarget::int, -1) >= 0 ORDER BY a.attnum), '{}'),
                   EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = $1 AND c.contype IN ('p', 'u', 'x'))
            FROM pg_index i
            JOIN pg_class ic ON ic.oid = i.indexrelid
            JOIN pg_namespace n ON n.oid = ic.relnamespace
            LEFT JOIN pg_tablespace t ON t.oid = ic.reltablespace
            WHERE i.indrelid = $1
            ORDER BY ic.relname
            """,
            r => new IndexFacts(r.GetFieldValue<uint>(0), r.GetString(1), r.GetString(2), r.GetString(3), r.IsDBNull(4) ? null : r.GetString(4),
                r.GetBoolean(5), r.GetBoolean(6), r.IsDBNull(7) ? null : r.GetString(7), r.GetFieldValue<int[]>(8), r.GetFieldValue<int[]>(9), r.GetBoolean(10)),
            cancellationToken, table).ConfigureAwait(false);
        var keys = await ConstraintsAsync(connection, "c.conrelid = $1 AND c.contype IN ('p', 'u', 'x')", "c.contype, c.conname", table, cancellationToken).ConfigureAwait(false);
        // Only a constraint's own definition: the copies PostgreSQL keeps on partitions go with it.
        var referencing = await ConstraintsAsync(connection, "c.confrelid = $1 AND c.contype = 'f' AND c.conparentid = 0", "1, c.conname", table, cancellationToken).ConfigureAwait(false);
        // The table's own keys to other tables: checked row by row while they stand (the cost of a
        // load into a table with parents), checked in one pass when added back after the rows.
        var outgoing = await ConstraintsAsync(connection, "c.conrelid = $1 AND c.contype = 'f' AND c.confrelid <> $1 AND c.conparentid = 0", "c.conname", table, cancellationToken).ConfigureAwait(false);
        if (runKeys is { Count: > 0 })
        {
            referencing.RemoveAll(k => runKeys.Contains((k.Owner, k.Name)));
            outgoing.RemoveAll(k => runKeys.Contains((k.Owner, k.Name)));
        }

        var definitions = new List<DeferredDefinition>();
        foreach (var index in indexes.Where(i => !i.BacksConstraint))
        {
            var restore = new List<SqlStatement>();
            restore.AddRange(InTablespace(index.Tablespace, SqlStatement.Plain(index.Definition)));
            restore.AddRange(IndexProperties(qualifiedTable, index));
            definitions.Add(new DeferredDefinition(DeferredKind.Index, qualifiedTable, index.QualifiedName, index.Name,
                SqlStatement.Plain($"DROP INDEX {index.QualifiedName}"), restore));
        }

        foreach (var key in keys.Concat(referencing).Concat(outgoing))
        {
            var restore = new List<SqlStatement>();
            var add = SqlStatement.Plain($"ALTER TABLE {key.Owner} ADD CONSTRAINT {SqlText.Identifier(key.Name)} {key.Definition}");
            var index = indexes.FirstOrDefault(i => i.Oid == key.IndexOid && key.Type != 'f');
            // pg_get_constraintdef names a key's index tablespace itself (USING INDEX TABLESPACE); an empty
            // default_tablespace keeps a role's own default from moving one that lived in the database's.
            restore.AddRange(index is null ? [add] : InTablespace(index.Tablespace, add));
            if (index is not null)
            {
                restore.AddRange(IndexProperties(qualifiedTable, index));
            }

            if (key.Comment is not null)
            {
                restore.Add(SqlStatement.Plain($"COMMENT ON CONSTRAINT {SqlText.Identifier(key.Name)} ON {key.Owner} IS {SqlText.Literal(key.Comment)}"));
            }

            definitions.Add(new DeferredDefinition(DeferredKind.Constraint, key.Owner, key.Name, key.Name,
                SqlStatement.Plain($"ALTER TABLE {key.Owner} DROP CONSTRAINT {SqlText.Identifier(key.Name)}"), restore));
        }

        var drops = definitions.Where(d => d.Kind == DeferredKind.Constraint && referencing.Any(r => r.Owner == d.Owner && r.Name == d.Name))
            .Concat(definitions.Where(d => d.Kind == DeferredKind.Constraint && outgoing.Any(o => o.Owner == d.Owner && o.Name == d.Name)))
            .Concat(definitions.Where(d => d.Kind == DeferredKind.Constraint && keys.Any(k => k.Owner == d.Owner && k.Name == d.Name)))
            .Concat(definitions.Where(d => d.Kind == DeferredKind.Index))
            .Select(d => d.Drop).ToList();
        if (outgoing.Count > 0)
        {
            // Dropping a key to a parent takes an exclusive lock on the parent: all of them at once,
            // in one order, so tables of a run loading at once that share parents wait, never deadlock.
            var parents = outgoing.Select(o => o.Referenced!).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
            drops.Insert(0, SqlStatement.Plain($"LOCK TABLE {string.Join(", ", parents)} IN ACCESS EXCLUSIVE MODE"));
        }

        return new DeferredIndexes(definitions, drops);
    }

    private static IEnumerable<SqlStatement> InTablespace(string? tablespace, SqlStatement create) =>
    [
        SqlStatement.Plain($"SET LOCAL default_tablespace = {SqlText.Literal(tablespace ?? string.Empty)}"),
        create,
        SqlStatement.Plain("SET LOCAL default_tablespace = DEFAULT"),
    ];

    private static IEnumerable<SqlStatement> IndexProperties(string qualifiedTable, IndexFacts index)
    {
        if (index.Clustered)
        {
            yield return SqlStatement.Plain($"ALTER TABLE {qualifiedTable} CLUSTER ON {SqlText.Identifier(index.Name)}");
        }

        if (index.ReplicaIdentity)
        {
            yield return SqlStatement.Plain($"ALTER TABLE {qualifiedTable} REPLICA IDENTITY USING INDEX {SqlText.Identifier(index.Name)}");
        }

        if (index.Comment is not null)
        {
            yield return SqlStatement.Plain($"COMMENT ON INDEX {index.QualifiedName} IS {SqlText.Literal(index.Comment)}");
        }

        for (var i = 0; i < index.StatisticsColumns.Length; i++)
        {
            yield return SqlStatement.Plain(string.Create(CultureInfo.InvariantCulture,
                $"ALTER INDEX {index.QualifiedName} ALTER COLUMN {index.StatisticsColumns[i]} SET STATISTICS {index.StatisticsTargets[i]}"));
        }
    }

    private static Task<List<ConstraintFacts>> ConstraintsAsync(NpgsqlConnection connection, string where, string order, uint table, CancellationToken cancellationToken) =>
        SqlExecutor.ListAsync(connection,
            $"""
             SELECT format('%I.%I', n.nspname, r.relname), c.conname, pg_get_constraintdef(c.oid), obj_description(c.oid, 'pg_constraint'), c.contype, c.conindid,
                    (SELECT format('%I.%I', fn.nspname, f.relname) FROM pg_class f JOIN pg_namespace fn ON fn.oid = f.relnamespace WHERE f.oid = c.confrelid)
             FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace
             WHERE {where} ORDER BY {order}
             """,
            r => new ConstraintFacts(r.GetString(0), r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3), r.GetChar(4), r.GetFieldValue<uint>(5),
                r.IsDBNull(6) ? null : r.GetString(6)),
            cancellationToken, table);

    private sealed record IndexFacts(
        uint Oid, string QualifiedName, string Name, string Definition, string? Tablespace, bool Clustered, bool ReplicaIdentity, string? Comment,
        int[] StatisticsColumns, int[] StatisticsTargets, bool BacksConstraint);

    // Referenced: a foreign key's referenced table, quoted and qualified; null for other constraints.
    private sealed record ConstraintFacts(string Owner, string Name, string Definition, string? Comment, char Type, uint IndexOid, string? Referenced);
}

/// <summary>What a deferred definition is, for telling whether it is missing.</summary>
internal enum DeferredKind
{
    /// <summary>An index that no constraint owns; missing when its qualified name resolves to nothing.</summary>
    Index,
    /// <summary>A constraint; missing when its owner table has no constraint of that name.</summary>
    Constraint,
}

/// <summary>One index or constraint the load drops, with every statement that brings it back as it was.</summary>
/// <param name="Kind">Index or constraint.</param>
/// <param name="Owner">The quoted, qualified table it belongs to.</param>
/// <param name="QualifiedName">For an index, its quoted qualified name; for a constraint, its name.</param>
/// <param name="Name">The plain name, for messages.</param>
/// <param name="Drop">The statement that drops it.</param>
/// <param name="Restore">The statements that rebuild it, in order.</param>
internal sealed record DeferredDefinition(DeferredKind Kind, string Owner, string QualifiedName, string Name, SqlStatement Drop, IReadOnlyList<SqlStatement> Restore);
