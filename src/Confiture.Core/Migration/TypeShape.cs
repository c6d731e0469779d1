namespace Confiture.Core.Migration;

/// <summary>
/// What a column's values are on the wire, worked out from its own server's catalog: two columns
/// hold the same kind of value only when their shapes are equal, whatever their types are called.
/// </summary>
/// <param name="Wire">
/// A canonical description: a built-in type by OID (the same on every server), a domain by its base
/// (a domain is its base type on the wire), an array by its element, a composite by its attributes,
/// an enum as a label, any other user type by its qualified name.
/// </param>
/// <param name="BaseOid">The type once domains are unwrapped.</param>
/// <param name="BaseCastName">
/// For a built-in base type, the name to cast to without a type modifier, so that the target applies
/// its own length or precision with assignment rules (an error, never a silent truncation); null for
/// a user-defined base.
/// </param>
/// <param name="BaseQualifiedName">The base type's schema-qualified, quoted name.</param>
/// <param name="IsEnum">Whether the base type is an enum (its values travel as their label).</param>
/// <param name="NeedsText">Whether binary COPY would carry server-specific OIDs (arrays of user types, composites).</param>
/// <param name="Typmod">The type modifier in force: the column's, else its domain's.</param>
internal sealed record TypeShape(string Wire, uint BaseOid, string? BaseCastName, string BaseQualifiedName, bool IsEnum, bool NeedsText, int Typmod);
