<#
.SYNOPSIS
    Writes, as JSON, what Build-Help.ps1 needs to know about the module's cmdlets: parameter sets,
    types, positions, pipeline input, aliases and valid values.
.DESCRIPTION
    Build-Help.ps1 runs this in a child process, so the build's own session never loads the
    module's assemblies (a second build in the same session would otherwise see the first one's).
#>
param([Parameter(Mandatory)][string] $ManifestPath)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

# -WhatIf and -Confirm are documented like the cmdlet's own parameters; the other common ones are not.
$skipped = [System.Management.Automation.PSCmdlet]::CommonParameters + @('UseTransaction')

function Get-TypeName([type] $Type) {
    $underlying = [Nullable]::GetUnderlyingType($Type)
    if ($underlying) { $Type = $underlying }
    $Type.Name
}

function Get-ValidValues($Parameter) {
    $set = $Parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateSetAttribute] } | Select-Object -First 1
    if ($set) { return @($set.ValidValues) }
    $type = [Nullable]::GetUnderlyingType($Parameter.ParameterType) ?? $Parameter.ParameterType
    if ($type.IsEnum) { return @([Enum]::GetNames($type)) }
    return @()
}

$module = Import-Module (Resolve-Path -LiteralPath $ManifestPath).Path -PassThru -Force
$commands = foreach ($command in Get-Command -Module $module.Name -CommandType Cmdlet | Sort-Object Name) {
    $parameters = foreach ($parameter in $command.Parameters.Values | Where-Object Name -NotIn $skipped) {
        $attributes = @($parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] })
        [ordered]@{
            Name        = $parameter.Name
            TypeName    = Get-TypeName $parameter.ParameterType
            FullType    = $parameter.ParameterType.FullName -replace '^System\.Nullable`1\[\[([^,]+),.*$', '$1'
            IsSwitch    = $parameter.SwitchParameter
            Aliases     = @($parameter.Aliases)
            Hidden      = [bool]($attributes | Where-Object DontShow)
            ValidValues = @(Get-ValidValues $parameter)
            Sets        = @(foreach ($attribute in $attributes) {
                    [ordered]@{
                        Name            = $attribute.ParameterSetName
                        Mandatory       = $attribute.Mandatory
                        Position        = $attribute.Position
                        ByValue         = $attribute.ValueFromPipeline
                        ByPropertyName  = $attribute.ValueFromPipelineByPropertyName
                    }
                })
        }
    }
    [ordered]@{
        Name                = $command.Name
        Verb                = $command.Verb
        Noun                = $command.Noun
        DefaultParameterSet = $command.DefaultParameterSet
        OutputTypes         = @($command.OutputType | ForEach-Object { $_.Type.FullName ?? $_.Name })
        ParameterSets       = @(foreach ($set in $command.ParameterSets) {
                [ordered]@{
                    Name       = $set.Name
                    IsDefault  = $set.IsDefault
                    Parameters = @($set.Parameters | Where-Object Name -NotIn $skipped | ForEach-Object Name)
                }
            })
        Parameters          = @($parameters)
    }
}
ConvertTo-Json -InputObject @($commands) -Depth 10
