using System.Globalization;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Migration;

/// <summary>Describes types from one server's catalog by what they are, not by what they are called.</summary>
internal static class TypeCatalog
{
    private sealed record TypeRow(
        uint Oid, char Kind, uint BaseType, int DomainTypmod, uint Element, char Category, string Schema, string Name, string Formatted, uint[] AttributeTypes);

    /// <summary>
    /// bit without a length means bit(1) in a cast, which would cut every value to one bit; bit
    /// varying has the same binary form and no length.
    /// </summary>
    private static readonly Dictionary<uint, string> CastNameOverrides = new() { [1560] = "bit varying", [1561] = "bit varying[]" };

    /// <summary>The shape of each (type, typmod) pair asked for.</summary>
    public static async Task<IReadOnlyList<TypeShape>> DescribeAsync(
        NpgsqlConnection connection, IReadOnlyList<(uint Type, int Typmod)> columns, CancellationToken cancellationToken)
    {
        // Every type reachable from the columns: domain bases, array elements, composite attributes.
        var rows = await SqlExecutor.ListAsync(connection,
            """
            WITH RECURSIVE reach(oid) AS (
                SELECT DISTINCT unnest($1::bigint[])::oid
                UNION
                SELECT x.oid FROM reach r JOIN pg_type t ON t.oid = r.oid
                CROSS JOIN LATERAL (
                    SELECT t.typbasetype UNION ALL SELECT t.typelem
                    UNION ALL SELECT a.atttypid FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) x(oid)
                WHERE x.oid <> 0)
            SELECT t.oid, t.typtype, t.typbasetype, t.typtypmod, t.typelem, t.typcategory, n.nspname, t.typname, format_type(t.oid, NULL),
                   coalesce((SELECT array_agg(a.atttypid ORDER BY a.attnum) FROM pg_attribute a
                             WHERE t.typrelid <> 0 AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped), '{}')
            FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE t.oid IN (SELECT oid FROM reach)
            """,
            r => new TypeRow(r.GetFieldValue<uint>(0), r.GetChar(1), r.GetFieldValue<uint>(2), r.GetInt32(3), r.GetFieldValue<uint>(4), r.GetChar(5),
                r.GetString(6), r.GetString(7), r.GetString(8), r.GetFieldValue<uint[]>(9)),
            cancellationToken, columns.Select(c => (long)c.Type).Distinct().ToArray()).ConfigureAwait(false);
        var types = rows.ToDictionary(t => t.Oid);

        return columns.Select(c => Shape(types, c.Type, c.Typmod)).ToList();
    }

    private static TypeShape Shape(Dictionary<uint, TypeRow> types, uint oid, int typmod)
    {
        var type = types[oid];
        var effectiveTypmod = typmod;
        while (type.Kind == 'd')
        {
            if (effectiveTypmod == -1)
            {
                effectiveTypmod = type.DomainTypmod;
            }

            type = types[type.BaseType];
        }

        var builtIn = type.Oid < TableColumn.FirstUserOid;
        var castName = builtIn ? CastNameOverrides.GetValueOrDefault(type.Oid, type.Formatted) : null;
        return new TypeShape(Wire(types, type.Oid), type.Oid, castName, SqlText.Qualified(type.Schema, type.Name),
            type.Kind == 'e', NeedsText(types, oid, []), effectiveTypmod);
    }

    private static string Wire(Dictionary<uint, TypeRow> types, uint oid)
    {
        var type = types[oid];
        while (type.Kind == 'd')
        {
            type = types[type.BaseType];
        }

        if (type.Category == 'A' && type.Element != 0)
        {
            return "[" + Wire(types, type.Element) + "]";
        }

        if (type.Oid < TableColumn.FirstUserOid)
        {
            return "b" + type.Oid.ToString(CultureInfo.InvariantCulture);
        }

        return type.Kind switch
        {
            'e' => "enum",
            'c' => "(" + string.Join(",", type.AttributeTypes.Select(a => Wire(types, a))) + ")",
            _ => "u:" + SqlText.Qualified(type.Schema, type.Name),
        };
    }

    /// <summary>Whether binary COPY of this type would embed an OID that only means something on its own server.</summary>
    private static bool NeedsText(Dictionary<uint, TypeRow> types, uint oid, HashSet<uint> seen)
    {
        if (!seen.Add(oid))
        {
            return false;
        }

        var type = types[oid];
        return type.Kind switch
        {
            'd' => NeedsText(types, type.BaseType, seen),
            'c' => true,
            _ when type.Category == 'A' && type.Element != 0 => type.Element >= TableColumn.FirstUserOid || NeedsText(types, type.Element, seen),
            _ => false,
        };
    }
}
