<#
.SYNOPSIS
    Builds the module's help: en-US/Confiture.PowerShell.dll-Help.xml (MAML) from the markdown
    pages beside this script, and copies the about_*.help.txt topics.
.DESCRIPTION
    One page per cmdlet, <Verb-Noun>.md, in the format README.md (beside this script) describes.
    What the pages cannot get wrong (parameter sets, types, positions, pipeline input, aliases,
    valid values) is read from the built module itself, in a child process; the pages give the
    words. A parameter without a description, or a description of a parameter that does not
    exist, is reported as a warning here and fails the help test of the Pester suite.
.PARAMETER Destination
    The built module folder (out/Confiture): the help goes to its en-US folder.
.EXAMPLE
    ./src/Confiture.PowerShell/Help/Build-Help.ps1 -Destination ./out/Confiture
#>
[CmdletBinding()]
param([Parameter(Mandatory)][string] $Destination)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$namespaces = @{
    msh     = 'http://msh'
    maml    = 'http://schemas.microsoft.com/maml/2004/10'
    command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
    dev     = 'http://schemas.microsoft.com/maml/dev/2004/10'
    MSHelp  = 'http://msdn.microsoft.com/mshelp'
}

$riskParameters = @{
    WhatIf  = 'Shows what the cmdlet would do, including the SQL statements it would run, without changing any database.'
    Confirm = 'Asks for confirmation before each change to a database.'
}

# --- Reading the markdown pages -------------------------------------------------------------------

function ConvertTo-Paragraphs {
    <#
        Turns markdown lines into help paragraphs: blank lines separate paragraphs, the lines of one
        paragraph are joined, each list item and each fenced block is a paragraph of its own (a
        fenced block keeps its line breaks), and inline markup (`code`, **bold**) is removed.
    #>
    param([string[]] $Lines)
    $paragraphs = [System.Collections.Generic.List[string]]::new()
    $current = [System.Collections.Generic.List[string]]::new()
    $fence = $null
    $flush = {
        if ($current.Count -gt 0) {
            $paragraphs.Add((($current -join ' ') -replace '\*\*([^*]+)\*\*', '$1' -replace '`([^`]+)`', '$1'))
            $current.Clear()
        }
    }
    foreach ($line in $Lines) {
        if ($null -ne $fence) {
            if ($line -match '^\s*```') {
                $paragraphs.Add(($fence -join [Environment]::NewLine))
                $fence = $null
            }
            else { $fence.Add($line) }
            continue
        }
        if ($line -match '^\s*```') {
            & $flush
            $fence = [System.Collections.Generic.List[string]]::new()
            continue
        }
        if ($line -match '^\s*$') { & $flush; continue }
        if ($line -match '^\s*[-*] ') { & $flush }
        $current.Add($line.Trim())
    }
    & $flush
    if ($null -ne $fence) { throw 'A fenced code block is not closed.' }
    , $paragraphs.ToArray()
}

function Split-Sections {
    <# Splits lines at headings of one level: returns ordered title -> lines. #>
    param([string[]] $Lines, [string] $Marker)
    $sections = [ordered]@{}
    $title = $null
    $inFence = $false
    foreach ($line in $Lines) {
        if ($line -match '^\s*```') { $inFence = -not $inFence }
        if (-not $inFence -and $line -match "^$Marker\s+(.+?)\s*$") {
            $title = $Matches[1]
            if ($sections.Contains($title)) { throw "Heading '$Marker $title' appears twice." }
            $sections[$title] = [System.Collections.Generic.List[string]]::new()
            continue
        }
        if ($null -ne $title) { $sections[$title].Add($line) }
    }
    $sections
}

function Read-HelpPage {
    param([Parameter(Mandatory)][System.IO.FileInfo] $File)
    $lines = [System.IO.File]::ReadAllLines($File.FullName)
    $name = ($lines | Where-Object { $_ -match '^# ' } | Select-Object -First 1) -replace '^#\s+', ''
    if ($name -ne $File.BaseName) { throw "$($File.Name): the first heading must be '# $($File.BaseName)'." }
    $sections = Split-Sections $lines '##'
    $section = { param($title) if ($sections.Contains($title)) { $sections[$title].ToArray() } else { @() } }

    $parameters = [ordered]@{}
    foreach ($entry in (Split-Sections (& $section 'PARAMETERS') '###').GetEnumerator()) {
        $parameterName = $entry.Key -replace '^-', ''
        $default = $null
        $body = foreach ($line in $entry.Value) {
            if ($line -match '^\s*Default value:\s*(.+?)\s*$') { $default = $Matches[1] } else { $line }
        }
        $parameters[$parameterName] = [pscustomobject]@{ Paragraphs = ConvertTo-Paragraphs @($body); Default = $default }
    }

    $examples = foreach ($entry in (Split-Sections (& $section 'EXAMPLES') '###').GetEnumerator()) {
        $code = [System.Collections.Generic.List[string]]::new()
        $rest = [System.Collections.Generic.List[string]]::new()
        $state = 'before'
        foreach ($line in $entry.Value) {
            switch ($state) {
                'before' { if ($line -match '^\s*```') { $state = 'code' } elseif ($line.Trim()) { $rest.Add($line) } }
                'code' { if ($line -match '^\s*```') { $state = 'after' } else { $code.Add($line) } }
                default { $rest.Add($line) }
            }
        }
        if ($code.Count -eq 0) { throw "$($File.Name): example '$($entry.Key)' has no code block." }
        [pscustomobject]@{ Title = $entry.Key; Code = $code -join [Environment]::NewLine; Remarks = ConvertTo-Paragraphs $rest.ToArray() }
    }

    $typed = {
        param($title)
        foreach ($entry in (Split-Sections (& $section $title) '###').GetEnumerator()) {
            [pscustomobject]@{ Type = $entry.Key; Paragraphs = ConvertTo-Paragraphs $entry.Value.ToArray() }
        }
    }

    $links = foreach ($line in (& $section 'RELATED LINKS')) {
        if ($line -match '^\s*[-*]\s+\[(.+?)\]\((.*?)\)') { [pscustomobject]@{ Text = $Matches[1]; Uri = $Matches[2] } }
        elseif ($line -match '^\s*[-*]\s+(.+?)\s*$') { [pscustomobject]@{ Text = $Matches[1]; Uri = '' } }
    }

    [pscustomobject]@{
        Name        = $name
        Synopsis    = (ConvertTo-Paragraphs (& $section 'SYNOPSIS')) -join ' '
        Description = ConvertTo-Paragraphs (& $section 'DESCRIPTION')
        Parameters  = $parameters
        Examples    = @($examples)
        Inputs      = @(& $typed 'INPUTS')
        Outputs     = @(& $typed 'OUTPUTS')
        Notes       = ConvertTo-Paragraphs (& $section 'NOTES')
        Links       = @($links)
    }
}

# --- Reading the built cmdlets ----------------------------------------------------------------------

function Get-CommandMetadata([string] $ManifestPath) {
    # A child process: loading the module here would pin its assemblies in the build's session.
    $host_ = [Environment]::ProcessPath
    $arguments = @()
    if ([IO.Path]::GetFileNameWithoutExtension($host_) -eq 'dotnet') { $arguments += Join-Path $PSHOME 'pwsh.dll' }
    $arguments += @('-NoProfile', '-NonInteractive', '-File', (Join-Path $PSScriptRoot 'Get-CommandMetadata.ps1'), '-ManifestPath', $ManifestPath)
    $json = & $host_ @arguments
    if ($LASTEXITCODE -ne 0) { throw "Reading the cmdlets of $ManifestPath failed: $json" }
    ($json -join [Environment]::NewLine) | ConvertFrom-Json
}

# --- Writing MAML -------------------------------------------------------------------------------------

function Write-Paragraphs([System.Xml.XmlWriter] $Writer, [string] $Element, [string[]] $Paragraphs) {
    $Writer.WriteStartElement('maml', $Element, $namespaces.maml)
    foreach ($paragraph in @($Paragraphs)) { $Writer.WriteElementString('maml', 'para', $namespaces.maml, $paragraph) }
    $Writer.WriteEndElement()
}

function Get-PipelineInput($Set) {
    $kinds = @(if ($Set.ByValue) { 'ByValue' }; if ($Set.ByPropertyName) { 'ByPropertyName' })
    if ($kinds) { "True ($($kinds -join ', '))" } else { 'False' }
}

function Write-Parameter {
    param([System.Xml.XmlWriter] $Writer, $Parameter, $Set, $Doc, [switch] $InSyntax)
    $position = if ($null -eq $Set.Position -or $Set.Position -lt 0) { 'named' } else { [string]$Set.Position }
    $aliases = if ($Parameter.Aliases.Count) { $Parameter.Aliases -join ', ' } else { 'none' }
    $Writer.WriteStartElement('command', 'parameter', $namespaces.command)
    $Writer.WriteAttributeString('required', ([string]$Set.Mandatory).ToLowerInvariant())
    $Writer.WriteAttributeString('variableLength', 'true')
    $Writer.WriteAttributeString('globbing', 'false')
    $Writer.WriteAttributeString('pipelineInput', (Get-PipelineInput $Set))
    $Writer.WriteAttributeString('position', $position)
    $Writer.WriteAttributeString('aliases', $aliases)
    $Writer.WriteElementString('maml', 'name', $namespaces.maml, $Parameter.Name)
    Write-Paragraphs $Writer 'Description' $Doc.Paragraphs
    if ($InSyntax -and $Parameter.ValidValues.Count) {
        $Writer.WriteStartElement('command', 'parameterValueGroup', $namespaces.command)
        foreach ($value in $Parameter.ValidValues) {
            $Writer.WriteStartElement('command', 'parameterValue', $namespaces.command)
            $Writer.WriteAttributeString('required', 'false')
            $Writer.WriteAttributeString('variableLength', $namespaces.command, 'false')
            $Writer.WriteString($value)
            $Writer.WriteEndElement()
        }
        $Writer.WriteEndElement()
    }
    elseif (-not ($InSyntax -and $Parameter.IsSwitch)) {
        $Writer.WriteStartElement('command', 'parameterValue', $namespaces.command)
        $Writer.WriteAttributeString('required', ([string](-not $Parameter.IsSwitch)).ToLowerInvariant())
        $Writer.WriteAttributeString('variableLength', 'false')
        $Writer.WriteString($Parameter.TypeName)
        $Writer.WriteEndElement()
    }
    $Writer.WriteStartElement('dev', 'type', $namespaces.dev)
    $Writer.WriteElementString('maml', 'name', $namespaces.maml, $Parameter.FullType)
    $Writer.WriteElementString('maml', 'uri', $namespaces.maml, '')
    $Writer.WriteEndElement()
    $default = if ($Doc.Default) { $Doc.Default } elseif ($Parameter.IsSwitch) { 'False' } else { 'None' }
    $Writer.WriteElementString('dev', 'defaultValue', $namespaces.dev, $default)
    $Writer.WriteEndElement()
}

function Write-Command {
    param([System.Xml.XmlWriter] $Writer, $Command, $Page)
    $docs = @{}
    foreach ($parameter in $Command.Parameters) {
        $doc = if ($Page.Parameters.Contains($parameter.Name)) { $Page.Parameters[$parameter.Name] }
        elseif ($riskParameters.ContainsKey($parameter.Name)) { [pscustomobject]@{ Paragraphs = @($riskParameters[$parameter.Name]); Default = $null } }
        else {
            Write-Warning "$($Command.Name): parameter -$($parameter.Name) has no description in $($Command.Name).md."
            [pscustomobject]@{ Paragraphs = @(); Default = $null }
        }
        $docs[$parameter.Name] = $doc
    }
    foreach ($documented in $Page.Parameters.Keys) {
        if ($documented -notin $Command.Parameters.Name) { Write-Warning "$($Command.Name).md describes -$documented, which the cmdlet does not have." }
    }
    if (-not $Page.Synopsis) { Write-Warning "$($Command.Name).md has no SYNOPSIS." }
    if (-not $Page.Description) { Write-Warning "$($Command.Name).md has no DESCRIPTION." }
    if ($Page.Examples.Count -lt 2) { Write-Warning "$($Command.Name).md has fewer than two examples." }
    foreach ($example in $Page.Examples | Where-Object { -not $_.Remarks }) { Write-Warning "$($Command.Name).md: example '$($example.Title)' explains nothing." }

    $Writer.WriteStartElement('command', 'command', $namespaces.command)
    foreach ($prefix in 'maml', 'command', 'dev', 'MSHelp') { $Writer.WriteAttributeString('xmlns', $prefix, $null, $namespaces[$prefix]) }

    $Writer.WriteStartElement('command', 'details', $namespaces.command)
    $Writer.WriteElementString('command', 'name', $namespaces.command, $Command.Name)
    $Writer.WriteElementString('command', 'verb', $namespaces.command, $Command.Verb)
    $Writer.WriteElementString('command', 'noun', $namespaces.command, $Command.Noun)
    Write-Paragraphs $Writer 'description' @($Page.Synopsis)
    $Writer.WriteEndElement()

    Write-Paragraphs $Writer 'description' $Page.Description

    # Syntax: the default set first; within a set, positional parameters by position, then the rest as declared.
    $Writer.WriteStartElement('command', 'syntax', $namespaces.command)
    foreach ($set in @($Command.ParameterSets | Sort-Object { -not $_.IsDefault })) {
        $Writer.WriteStartElement('command', 'syntaxItem', $namespaces.command)
        $Writer.WriteElementString('maml', 'name', $namespaces.maml, $Command.Name)
        $members = foreach ($name in $set.Parameters) {
            $parameter = $Command.Parameters | Where-Object Name -EQ $name
            if ($parameter.Hidden) { continue }
            $membership = $parameter.Sets | Where-Object { $_.Name -in $set.Name, '__AllParameterSets' } | Select-Object -First 1
            if (-not $membership) { $membership = [pscustomobject]@{ Mandatory = $false; Position = $null; ByValue = $false; ByPropertyName = $false } }
            [pscustomobject]@{ Parameter = $parameter; Set = $membership; Order = if ($null -ne $membership.Position -and $membership.Position -ge 0) { $membership.Position } else { [int]::MaxValue } }
        }
        foreach ($member in @($members | Sort-Object Order -Stable)) {
            Write-Parameter $Writer $member.Parameter $member.Set $docs[$member.Parameter.Name] -InSyntax
        }
        $Writer.WriteEndElement()
    }
    $Writer.WriteEndElement()

    $Writer.WriteStartElement('command', 'parameters', $namespaces.command)
    foreach ($parameter in $Command.Parameters) {
        # One entry per parameter: mandatory or positional or piped in any set counts.
        $sets = @($parameter.Sets)
        $positions = @($sets | Where-Object { $null -ne $_.Position -and $_.Position -ge 0 } | ForEach-Object Position)
        $summary = [pscustomobject]@{
            Mandatory      = [bool]($sets | Where-Object Mandatory)
            Position       = if ($positions.Count) { $positions[0] } else { $null }
            ByValue        = [bool]($sets | Where-Object ByValue)
            ByPropertyName = [bool]($sets | Where-Object ByPropertyName)
        }
        Write-Parameter $Writer $parameter $summary $docs[$parameter.Name]
    }
    $Writer.WriteEndElement()

    foreach ($kind in @(@{ List = 'inputTypes'; Item = 'inputType'; Entries = $Page.Inputs }, @{ List = 'returnValues'; Item = 'returnValue'; Entries = $Page.Outputs })) {
        $Writer.WriteStartElement('command', $kind.List, $namespaces.command)
        foreach ($entry in $kind.Entries) {
            $Writer.WriteStartElement('command', $kind.Item, $namespaces.command)
            $Writer.WriteStartElement('dev', 'type', $namespaces.dev)
            $Writer.WriteElementString('maml', 'name', $namespaces.maml, $entry.Type)
            $Writer.WriteEndElement()
            Write-Paragraphs $Writer 'description' $entry.Paragraphs
            $Writer.WriteEndElement()
        }
        $Writer.WriteEndElement()
    }

    if ($Page.Notes) {
        $Writer.WriteStartElement('maml', 'alertSet', $namespaces.maml)
        Write-Paragraphs $Writer 'alert' $Page.Notes
        $Writer.WriteEndElement()
    }

    $Writer.WriteStartElement('command', 'examples', $namespaces.command)
    $number = 0
    foreach ($example in $Page.Examples) {
        $number++
        $title = if ($example.Title -match '^Example\s+\d+') { $example.Title } else { "Example ${number}: $($example.Title)" }
        $Writer.WriteStartElement('command', 'example', $namespaces.command)
        $Writer.WriteElementString('maml', 'title', $namespaces.maml, "--------- $title ---------")
        $Writer.WriteElementString('dev', 'code', $namespaces.dev, $example.Code)
        Write-Paragraphs $Writer 'remarks' $example.Remarks
        $Writer.WriteEndElement()
    }
    $Writer.WriteEndElement()

    $Writer.WriteStartElement('command', 'relatedLinks', $namespaces.command)
    foreach ($link in $Page.Links) {
        $Writer.WriteStartElement('maml', 'navigationLink', $namespaces.maml)
        $Writer.WriteElementString('maml', 'linkText', $namespaces.maml, $link.Text)
        $Writer.WriteElementString('maml', 'uri', $namespaces.maml, $link.Uri)
        $Writer.WriteEndElement()
    }
    $Writer.WriteEndElement()

    $Writer.WriteEndElement()
}

# --- The build ------------------------------------------------------------------------------------------

$Destination = (Resolve-Path -LiteralPath $Destination).Path
$manifest = Join-Path $Destination 'Confiture.psd1'
$culture = New-Item -ItemType Directory -Path (Join-Path $Destination 'en-US') -Force
$commands = @(Get-CommandMetadata $manifest)

$settings = [System.Xml.XmlWriterSettings]::new()
$settings.Indent = $true
$settings.Encoding = [System.Text.UTF8Encoding]::new($false)
$helpFile = Join-Path $culture.FullName 'Confiture.PowerShell.dll-Help.xml'
$writer = [System.Xml.XmlWriter]::Create($helpFile, $settings)
try {
    $writer.WriteStartDocument()
    $writer.WriteStartElement('helpItems', $namespaces.msh)
    $writer.WriteAttributeString('schema', 'maml')
    foreach ($command in $commands) {
        $page = Join-Path $PSScriptRoot "$($command.Name).md"
        if (-not (Test-Path -LiteralPath $page)) {
            Write-Warning "$($command.Name) has no help page ($page)."
            continue
        }
        Write-Command $writer $command (Read-HelpPage (Get-Item -LiteralPath $page))
    }
    $writer.WriteEndElement()
    $writer.WriteEndDocument()
}
finally {
    $writer.Dispose()
}

Get-ChildItem -LiteralPath $PSScriptRoot -Filter 'about_*.help.txt' | Copy-Item -Destination $culture.FullName
Write-Host "Help ready: $helpFile"
