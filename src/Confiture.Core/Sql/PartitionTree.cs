namespace Confiture.Core.Sql;

/// <summary>
/// The relations a table stands for, as SQL: pg_partition_tree returns no row for a table that is
/// neither partitioned nor a partition, so each form adds the table itself.
/// See https://www.postgresql.org/docs/current/functions-info.html#FUNCTIONS-INFO-PARTITION.
/// </summary>
internal static class PartitionTree
{
    /// <summary>The relations that hold the rows: the table itself, or every leaf partition of a partitioned one (column relid).</summary>
    public static string Leaves(string table) =>
        $"(SELECT c.oid AS relid FROM pg_class c WHERE c.oid = {table} AND c.relkind <> 'p' " +
        $"UNION SELECT t.relid FROM pg_partition_tree({table}) t WHERE t.isleaf)";

    /// <summary>The table and every partition under it, partitioned ones included (column relid).</summary>
    public static string All(string table) =>
        $"(SELECT {table}::oid AS relid UNION SELECT t.relid FROM pg_partition_tree({table}) t)";
}
