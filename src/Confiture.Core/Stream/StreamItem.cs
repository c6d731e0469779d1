using NpgsqlTypes;

namespace Confiture.Core.Stream;

/// <summary>
/// A pgoutput message read off the replication connection into plain values, so the connection
/// can move on while the target applies (each value of a message must be read before the next).
/// See https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html.
/// </summary>
internal abstract record StreamItem
{
    /// <summary>A transaction begins; its commit record is at <paramref name="CommitLsn"/>.</summary>
    public sealed record Begin(NpgsqlLogSequenceNumber CommitLsn, DateTimeOffset CommittedAt) : StreamItem;

    /// <summary>A transaction ends; <paramref name="EndLsn"/> is the position a restart resumes after.</summary>
    public sealed record Commit(NpgsqlLogSequenceNumber EndLsn, DateTimeOffset CommittedAt) : StreamItem;

    /// <summary>A table's columns as the source decodes them from here on.</summary>
    public sealed record Relation(uint Id, string Schema, string Name, bool FullIdentity, IReadOnlyList<RelationColumn> Columns) : StreamItem;

    /// <summary>An insert (New), update (New, with Old when the key changed or the identity is FULL) or delete (Old).</summary>
    public sealed record Row(RowKind Kind, uint RelationId, string?[]? New, bool[]? Unchanged, string?[]? Old) : StreamItem;

    /// <summary>TRUNCATE of these tables.</summary>
    public sealed record Truncate(IReadOnlyList<uint> RelationIds) : StreamItem;

    /// <summary>A logical decoding message, such as the stop marker.</summary>
    public sealed record Message(string Prefix, string Content) : StreamItem;
}

internal enum RowKind
{
    Insert,
    Update,
    Delete,
}

/// <summary>A column of a relation message.</summary>
internal sealed record RelationColumn(string Name, uint TypeOid, int Typmod, bool IsKey);
