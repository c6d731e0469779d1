namespace Confiture.Core.Migration;

/// <summary>A column as the catalog of its server describes it.</summary>
internal sealed record TableColumn(
    string Name,
    string TypeName,
    uint TypeOid,
    TypeShape Shape,
    bool NotNull,
    bool HasDefault,
    char Identity,
    bool Generated)
{
    /// <summary>Types below this OID are built in: the same OID and wire format on every server.</summary>
    public const uint FirstUserOid = 16384;

    /// <summary>smallint, integer or bigint (or a domain over one): what a sequence can feed and a key range can split.</summary>
    public bool IsInteger => Shape.BaseOid is 20 or 21 or 23;

    /// <summary>Whether binary COPY of this column would carry OIDs that mean nothing on the other server.</summary>
    public bool NeedsTextCopy => Shape.NeedsText;

    /// <summary>Whether a row written without this column would fail.</summary>
    public bool RequiresValue => NotNull && !HasDefault && Identity == '\0' && !Generated;

    /// <summary>Whether the two columns hold the same values on the wire, type modifier included.</summary>
    public bool SameValuesAs(TableColumn other) => Shape.Wire == other.Shape.Wire && Shape.Typmod == other.Shape.Typmod;
}
