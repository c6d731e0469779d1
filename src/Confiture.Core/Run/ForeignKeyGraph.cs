using Confiture.Core.Migration;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Run;

/// <summary>
/// The target's foreign keys among a run's tables, and the order they give: every table after the
/// tables it references; tables that reference each other in a cycle form one group, loaded in one
/// transaction with the keys between them dropped and added back.
/// </summary>
internal static class ForeignKeyGraph
{
    /// <summary>One foreign key of the target, by the root tables (a partition's key counts for its partitioned parent).</summary>
    public sealed record Key(uint From, uint To, ForeignKeyDefinition Definition, string FromName, string ToName);

    /// <summary>Every top-level foreign key that touches one of the tables, from or to it.</summary>
    public static Task<List<Key>> ReadAsync(NpgsqlConnection connection, IReadOnlyCollection<uint> tables, CancellationToken cancellationToken) =>
        SqlExecutor.ListAsync(connection,
            """
            SELECT c.conrelid, c.confrelid, format('%I.%I', fn.nspname, f.relname), c.conname, pg_get_constraintdef(c.oid),
                   format('%I.%I', fn.nspname, f.relname), format('%I.%I', tn.nspname, t.relname)
            FROM pg_constraint c
            JOIN pg_class f ON f.oid = c.conrelid JOIN pg_namespace fn ON fn.oid = f.relnamespace
            JOIN pg_class t ON t.oid = c.confrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
            WHERE c.contype = 'f' AND c.conparentid = 0 AND (c.conrelid = ANY ($1::bigint[]::oid[]) OR c.confrelid = ANY ($1::bigint[]::oid[]))
            ORDER BY 3, 4
            """,
            r => new Key(r.GetFieldValue<uint>(0), r.GetFieldValue<uint>(1), new ForeignKeyDefinition(r.GetString(2), r.GetString(3), r.GetString(4)), r.GetString(5), r.GetString(6)),
            cancellationToken, tables.Select(t => (long)t).ToArray());

    /// <summary>
    /// The tables in groups, each group after every group it references. A group of one is a table
    /// alone (a key to itself needs no order: a statement checks it at its end); a larger group is
    /// a cycle.
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<uint>> Order(IReadOnlyList<uint> tables, IReadOnlyList<Key> keys)
    {
        var inRun = tables.ToHashSet();
        var edges = tables.ToDictionary(t => t, _ => new List<uint>());
        foreach (var key in keys.Where(k => inRun.Contains(k.From) && inRun.Contains(k.To) && k.From != k.To))
        {
            edges[key.From].Add(key.To);
        }

        // Tarjan's strongly connected components come out referenced-first: exactly the load order.
        var index = new Dictionary<uint, int>();
        var low = new Dictionary<uint, int>();
        var stack = new Stack<uint>();
        var onStack = new HashSet<uint>();
        var groups = new List<IReadOnlyList<uint>>();
        var counter = 0;

        void Visit(uint table)
        {
            index[table] = low[table] = counter++;
            stack.Push(table);
            onStack.Add(table);
            foreach (var parent in edges[table])
            {
                if (!index.TryGetValue(parent, out var seen))
                {
                    Visit(parent);
                    low[table] = Math.Min(low[table], low[parent]);
                }
                else if (onStack.Contains(parent))
                {
                    low[table] = Math.Min(low[table], seen);
                }
            }

            if (low[table] == index[table])
            {
                var group = new List<uint>();
                uint member;
                do
                {
                    member = stack.Pop();
                    onStack.Remove(member);
                    group.Add(member);
                }
                while (member != table);

                // Within a cycle, keep the caller's order: it is as good as any and easy to read.
                groups.Add(group.OrderBy(t => tables.ToList().IndexOf(t)).ToList());
            }
        }

        foreach (var table in tables)
        {
            if (!index.ContainsKey(table))
            {
                Visit(table);
            }
        }

        return groups;
    }
}
