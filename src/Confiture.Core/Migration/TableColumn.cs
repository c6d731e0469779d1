namespace Confiture.Core.Migration;

/// <summary>A column as the catalog of its server describes it.</summary>
internal sealed record TableColumn(
    string Name,
    string TypeName,
    uint TypeOid,
    string TypeSchema,
    int TypeModifier,
    char TypeKind,
    bool NeedsTextCopy,
    bool NotNull,
    bool HasDefault,
    char Identity,
    bool Generated)
{
    /// <summary>Types below this OID are built in: the same OID and wire format on every server.</summary>
    public const uint FirstUserOid = 16384;

    public bool IsBuiltInType => TypeOid < FirstUserOid;

    public bool IsEnum => TypeKind == 'e';

    /// <summary>smallint, integer or bigint: what a sequence can feed and a key range can split.</summary>
    public bool IsInteger => TypeOid is 20 or 21 or 23;

    /// <summary>Whether a row written without this column would fail.</summary>
    public bool RequiresValue => NotNull && !HasDefault && Identity == '\0' && !Generated;

    public bool SameTypeAs(TableColumn other) =>
        IsBuiltInType && other.IsBuiltInType
            ? TypeOid == other.TypeOid && TypeModifier == other.TypeModifier
            : TypeSchema == other.TypeSchema && TypeName == other.TypeName && TypeModifier == other.TypeModifier;
}
